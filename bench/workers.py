"""Row 5: PostgreSQL, 4 worker processes against 1.

N tasks are queued up front (N input events, each planning one async task)
on a fresh schema; then 1, or 4, separate OS processes (forked, each with
its own store and a ``Worker`` of default settings) are started, and once
all are ready they are let go together. The handler waits 20 ms, as an
I/O-bound task does, so a 2-core machine can show scaling. Timed from the
go until the workers' stats together count N completed attempts.

The row is tasks per second with 4 processes over 1. Goal >= 2x.
PostgreSQL only (SQLite serialises writers on one file); without a server
it prints nothing.

    python bench/workers.py [--quick] --postgres URL [--repeats N]
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Event as ProcessEvent
from types import ModuleType

from benchlib import Options, Row
from workload import TASK_PROCESS, Stores, Tasks, interleaved_medians, print_measured, start_tasks

from pmc.runtime import Worker
from pmc.runtime.results import Report
from pmc.runtime.stores import open_store
from pmc.runtime.worker import WorkerStats

HANDLER_WAIT = 0.020
PROCESSES = 4
GOAL = 2.0
WAIT_LIMIT = 600.0
# Forked children inherit the compiled module; each opens its own store.
CONTEXT = multiprocessing.get_context("fork")


def serve(
    module: ModuleType,
    url: str,
    slot: int,
    completed: SynchronizedArray[int],
    ready: ProcessEvent,
    go: ProcessEvent,
    stop: ProcessEvent,
) -> None:
    """One worker process: report ready, wait for the go, work until told to stop."""

    def listener(_report: Report, stats: WorkerStats) -> None:
        completed[slot] = stats.completed

    worker = Worker(module.DEFINITION, open_store(url), Tasks(HANDLER_WAIT), listener=listener)
    worker.store.init()
    ready.set()
    go.wait()
    worker.start()
    stop.wait()
    worker.stop()
    worker.store.close()


def tasks_per_second(module: ModuleType, url: str, processes: int, count: int) -> float:
    start_tasks(module, url, count)
    completed = CONTEXT.Array("i", processes)
    go, stop = CONTEXT.Event(), CONTEXT.Event()
    readies = [CONTEXT.Event() for _ in range(processes)]
    children = [
        CONTEXT.Process(target=serve, args=(module, url, slot, completed, readies[slot], go, stop))
        for slot in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for ready in readies:
            ready.wait(WAIT_LIMIT)
        start = time.perf_counter()
        go.set()
        while sum(completed[:]) < count:
            if time.perf_counter() - start > WAIT_LIMIT:
                raise SystemExit(f"{processes} workers did not complete {count} tasks")
            time.sleep(0.005)
        return count / (time.perf_counter() - start)
    finally:
        stop.set()
        for child in children:
            child.join()


def measure(options: Options, module: ModuleType, stores: Stores) -> list[Row]:
    if options.postgres is None:
        return []
    count = 100 if options.quick else 600

    def rate(processes: int) -> float:
        with stores.fresh("postgresql") as url:
            return tasks_per_second(module, url, processes, count)

    many, one = interleaved_medians(options.repeats, lambda: rate(PROCESSES), lambda: rate(1))
    ratio = many / one
    return [
        Row(
            f"postgresql: {PROCESSES} worker processes vs 1 (20 ms handlers)",
            f"{many:.0f} tasks/s",
            f"{one:.0f} tasks/s",
            ratio,
            f">= {GOAL:.0f}x",
            ratio >= GOAL,
        )
    ]


def main() -> None:
    print_measured(__doc__, TASK_PROCESS, "task_bench", measure)


if __name__ == "__main__":
    main()
