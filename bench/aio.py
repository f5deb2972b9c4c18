"""asyncio: one event loop running I/O-bound ``async def`` handlers, against as many threads.

On a fresh store, N input events each plan one async task, whose handler
waits 50 ms as a call to another service does. Then, timed until the
worker's stats count N completed attempts:
- ours: an ``AsyncWorker`` (``max_concurrency=64``, 4 threads for the
  store) whose ``async def`` handler awaits ``asyncio.sleep``;
- baseline: a threaded ``Worker`` with ``concurrency=64`` (64 runner
  threads) whose ``def`` handler sleeps.

The row is tasks per second, ours over the baseline's: 64 attempts at once
on one loop should cost no more than 64 threads do. Goal >= 0.8x.

    python bench/aio.py [--quick] [--postgres URL] [--repeats N]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import ModuleType

from benchlib import Options, Row
from workload import (
    TASK_PROCESS,
    Stores,
    Tasks,
    backends,
    interleaved_medians,
    print_measured,
    start_tasks,
    worker_done_after,
)

from pmc.runtime import AsyncWorker, Worker
from pmc.runtime.stores import open_store

HANDLER_WAIT = 0.050
AT_ONCE = 64
GOAL = 0.8
WAIT_LIMIT = 600.0


class AsyncTasks:
    """The handler of TASK_PROCESS, ``async def``: it awaits as I/O would."""

    async def work(self, _task: object, _ctx: object) -> None:
        await asyncio.sleep(HANDLER_WAIT)


def threaded_rate(module: ModuleType, url: str, count: int) -> float:
    start_tasks(module, url, count)
    listener, done = worker_done_after(count)
    store = open_store(url)
    worker = Worker(
        module.DEFINITION, store, Tasks(HANDLER_WAIT), concurrency=AT_ONCE, listener=listener
    )
    began = time.perf_counter()
    worker.start()
    try:
        if not done.wait(WAIT_LIMIT):
            raise SystemExit(f"the threaded worker did not complete {count} tasks")
        return count / (time.perf_counter() - began)
    finally:
        worker.stop()
        store.close()


def async_rate(module: ModuleType, url: str, count: int) -> float:
    start_tasks(module, url, count)
    listener, done = worker_done_after(count)
    store = open_store(url)

    async def run() -> float:
        worker = AsyncWorker(
            module.DEFINITION, store, AsyncTasks(), max_concurrency=AT_ONCE, listener=listener
        )
        began = time.perf_counter()
        await worker.start()
        try:
            # ``done`` is set from the loop or a pool thread: waited on off the loop.
            if not await asyncio.to_thread(done.wait, WAIT_LIMIT):
                raise SystemExit(f"the asyncio worker did not complete {count} tasks")
            return count / (time.perf_counter() - began)
        finally:
            await worker.stop()

    try:
        return asyncio.run(run())
    finally:
        store.close()


def measure(options: Options, module: ModuleType, stores: Stores) -> list[Row]:
    return [row(options, module, stores, backend) for backend in backends(options.postgres)]


def row(options: Options, module: ModuleType, stores: Stores, backend: str) -> Row:
    count = 200 if options.quick else 1000

    def rate(of: Callable[[ModuleType, str, int], float]) -> float:
        with stores.fresh(backend) as url:
            return of(module, url, count)

    ours, baseline = interleaved_medians(
        options.repeats, lambda: rate(async_rate), lambda: rate(threaded_rate)
    )
    ratio = ours / baseline
    return Row(
        f"asyncio worker vs {AT_ONCE} threads (50 ms handlers), {backend}",
        f"{ours:.0f} tasks/s",
        f"{baseline:.0f} tasks/s",
        ratio,
        f">= {GOAL}x",
        ratio >= GOAL,
    )


def main() -> None:
    print_measured(__doc__, TASK_PROCESS, "aio_bench", measure)


if __name__ == "__main__":
    main()
