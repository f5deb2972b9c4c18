"""``AsyncWorker``: ``async def`` handlers run on one event loop, ``max_concurrency`` at once.

It claims, starts and records through the threaded ``Worker``'s code, so
the streams it writes are those a threaded worker writes: these tests show
the streams, and what is particular to the event loop (the limit, a
timeout as a cancellation, a stop cancelling what still runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pmc.errors import PmcError
from pmc.runtime import TaskContext
from pmc.runtime.aio import AsyncProcessManager, AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.running import Lease
from pmc.runtime.state import End
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from tests.conftest import OpenStore
from tests.runtime.support import (
    FakeClock,
    RebaseTasks,
    assert_well_formed,
    definition,
    names,
    of_type,
    quick,
    seed,
    untimed,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]

Behaviour = Callable[[TaskContext], Awaitable[None]]


class AsyncRebaseTasks:
    """Handlers of RtRebase / RtQuick, ``async def``: each attempt does what ``behaviour`` does."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.attempts: list[tuple[str, int]] = []
        self.cancelled: list[tuple[str, int]] = []
        self.started = asyncio.Event()  # set once an attempt runs

    async def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.attempts.append((ctx.machine_id, ctx.attempt))
        self.started.set()
        try:
            await self.behaviour(ctx)
        except asyncio.CancelledError:
            self.cancelled.append((ctx.machine_id, ctx.attempt))
            raise


async def succeed(ctx: TaskContext) -> None:
    await asyncio.sleep(0)


async def hang(ctx: TaskContext) -> None:
    await asyncio.Event().wait()  # never set: only a cancellation ends it


def instances(count: int) -> list[str]:
    return [f"i{n}" for n in range(count)]


async def until_ended(aio: AsyncProcessManager, key: str) -> End:
    """The end of process ``key``, once it has one (polled; bounded by the test's timeout)."""
    for _ in range(2000):
        state = await aio.state(key)
        if state.end is not None:
            return state.end
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} did not end")


async def start_r1(aio: AsyncProcessManager, module: ModuleType, count: int) -> None:
    await aio.handle(module.RebaseFailed(rebase_id="r1", instances=instances(count)))


def async_manager(module: ModuleType, store: ProcessStore) -> AsyncProcessManager:
    return AsyncProcessManager(ProcessManager(definition(module), store, with_worker=True))


async def run_to_end(
    module: ModuleType, store: ProcessStore, tasks: object, count: int, **options: Any
) -> AsyncWorker:
    """Start process r1 over ``count`` instances and run a worker until it ends; the worker."""
    async with async_manager(module, store) as aio:
        await start_r1(aio, module, count)
        async with AsyncWorker(definition(module), store, tasks, **options) as worker:
            await until_ended(aio, "r1")
    return worker


async def stop_once_running(
    module: ModuleType, store: ProcessStore, tasks: AsyncRebaseTasks, grace: float
) -> asyncio.Task[bool]:
    """Start process r1 over one instance and a worker; once its attempt runs, stop the worker."""
    async with async_manager(module, store) as aio:
        await start_r1(aio, module, 1)
    worker = AsyncWorker(definition(module), store, tasks)
    await worker.start()
    await tasks.started.wait()
    return asyncio.create_task(worker.stop(grace))


def test_handlers_run_concurrently_up_to_the_limit(store: ProcessStore) -> None:
    m = seed()
    limit, total = 3, 10
    running, peak, finished = 0, 0, 0
    changed = asyncio.Condition()

    async def count_while_running(ctx: TaskContext) -> None:
        # Each handler counts itself in, lets every other handler the worker
        # started with it do the same (one step of the loop), then waits until
        # as many run as the limit allows (all that are left, at the end): a
        # worker over the limit would push the peak past it, one under it
        # would never get there and the process would not end.
        nonlocal running, peak, finished
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        async with changed:
            changed.notify_all()
            await changed.wait_for(lambda: running >= min(limit, total - finished))
            running -= 1
            finished += 1
            changed.notify_all()

    tasks = AsyncRebaseTasks(count_while_running)

    worker = asyncio.run(run_to_end(m, store, tasks, total, max_concurrency=limit))

    assert peak == limit
    assert sorted(tasks.attempts) == [(i, 1) for i in sorted(instances(total))]
    assert worker.stats.completed == total
    history = ProcessManager(definition(m), store).history("r1")
    assert_well_formed(history)
    assert names(history)[-1] == "ProcessCompleted"


def test_a_failed_attempt_is_retried(store: ProcessStore) -> None:
    m = quick()  # retry 3, at once

    async def fail_first(ctx: TaskContext) -> None:
        if ctx.attempt == 1:
            raise RuntimeError("the cloud said no")

    tasks = AsyncRebaseTasks(fail_first)

    worker = asyncio.run(run_to_end(m, store, tasks, 1))

    history = ProcessManager(definition(m), store).history("r1")
    assert [(f.attempt, f.reason) for f in of_type(history, "TaskFailed")] == [
        (1, "the cloud said no")
    ]
    assert [c.attempt for c in of_type(history, "TaskCompleted")] == [2]
    assert tasks.attempts == [("i0", 1), ("i0", 2)]
    assert (worker.stats.retrying, worker.stats.completed) == (1, 1)


async def hang_first(ctx: TaskContext) -> None:
    if ctx.attempt == 1:
        await hang(ctx)


def test_an_attempt_past_its_timeout_is_cancelled_and_recorded_as_timed_out(
    store: ProcessStore,
) -> None:
    m = quick()  # timeout 1s, retry 3 at once
    tasks = AsyncRebaseTasks(hang_first)

    worker = asyncio.run(run_to_end(m, store, tasks, 1))

    history = ProcessManager(definition(m), store).history("r1")
    assert tasks.cancelled == [("i0", 1)]
    assert [t.attempt for t in of_type(history, "TaskTimedOut")] == [1]
    # The cancelled attempt has no outcome of its own: its timeout is it.
    assert [(type(e).__name__, e.attempt) for e in of_type(history, "TaskFailed")] == []
    assert [c.attempt for c in of_type(history, "TaskCompleted")] == [2]
    assert (worker.stats.timed_out, worker.stats.retrying, worker.stats.completed) == (1, 1, 1)


def test_a_timeout_before_the_stores_clock_says_so_is_recorded_when_it_does(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = quick()  # timeout 1s, retry 3 at once
    tasks = AsyncRebaseTasks(hang_first)

    async def time_out_then_drain() -> tuple[list[str], list[str]]:
        async with async_manager(m, store) as aio:
            await start_r1(aio, m, 1)
            worker = AsyncWorker(definition(m), store, tasks)
            try:
                await worker.run_once()  # cancelled after 1 s; the store's clock has not moved
                cancelled = names(await aio.history("r1"))
                clock.advance(seconds=2)
                await worker.drain()
            finally:
                worker.close()
            return cancelled, names(await aio.history("r1"))

    cancelled, drained = asyncio.run(time_out_then_drain())

    assert tasks.cancelled == [("i0", 1)]
    assert cancelled[-1] == "TaskStarted"  # not timed out yet by the store's clock
    assert drained[len(cancelled) :] == [
        "TaskTimedOut",
        "TaskRetryScheduled",
        "TaskStarted",
        "TaskCompleted",
        "TransitionPlanned",
        "ProcessCompleted",
    ]


def test_an_attempt_without_timeout_keeps_its_lease_while_its_handler_awaits(
    open_same_store: OpenStore, clock: FakeClock
) -> None:
    """The store runs on a fake clock, moved by the handler itself: each step moves it
    two thirds of a lease, so two steps without a renewal would expire the lease; after
    each step the handler awaits the next renewal, then a threaded worker looks for
    expired leases (it would record a timeout). Nothing depends on the machine's speed."""
    m = untimed()
    store = open_same_store()
    lease = timedelta(seconds=0.3)  # renewed every 0.1 s of real time
    watcher = Worker(definition(m), open_same_store(), RebaseTasks(), worker_id="watcher")

    def renewals() -> int:
        return len(of_type(ProcessManager(definition(m), store).history("r1"), "TaskStarted"))

    def renewed_after(seen: int) -> None:
        wait_until(lambda: renewals() > seen)

    async def outlast_three_leases(ctx: TaskContext) -> None:
        for _ in range(3):
            seen = await asyncio.to_thread(renewals)
            clock.advance(seconds=lease.total_seconds() * 2 / 3)
            await asyncio.to_thread(renewed_after, seen)
            await asyncio.to_thread(watcher.run_once)

    tasks = AsyncRebaseTasks(outlast_three_leases)

    async def run_beside_the_watcher() -> None:
        async with async_manager(m, store) as aio:
            await start_r1(aio, m, 1)
            async with AsyncWorker(definition(m), store, tasks, worker_id="aio", lease=lease):
                await until_ended(aio, "r1")

    asyncio.run(run_beside_the_watcher())

    history = ProcessManager(definition(m), store).history("r1")
    starts = of_type(history, "TaskStarted")
    assert {(s.worker, s.attempt) for s in starts} == {("aio", 1)}
    assert len(starts) >= 4  # the start and a renewal after each step
    assert of_type(history, "TaskTimedOut") == []
    assert names(history)[-1] == "ProcessCompleted"


def test_a_def_handler_of_the_same_tasks_runs_in_the_thread_pool(store: ProcessStore) -> None:
    m = seed()
    tasks = RebaseTasks()

    worker = asyncio.run(run_to_end(m, store, tasks, 2))

    assert sorted(tasks.calls.of("CloseInstance")) == [("i0", 1), ("i1", 1)]
    assert worker.stats.completed == 2


def test_stop_waits_for_the_running_handlers(store: ProcessStore) -> None:
    m = seed()
    release = asyncio.Event()

    async def wait_for_release(ctx: TaskContext) -> None:
        await release.wait()

    tasks = AsyncRebaseTasks(wait_for_release)

    async def stop_while_running() -> bool:
        stopping = await stop_once_running(m, store, tasks, grace=60)
        await asyncio.sleep(0)  # the stop is under way
        release.set()  # the handler returns within the grace
        return await stopping

    assert asyncio.run(stop_while_running()) is True
    history = ProcessManager(definition(m), store).history("r1")
    assert [c.attempt for c in of_type(history, "TaskCompleted")] == [1]
    assert tasks.cancelled == []


def test_stop_cancels_what_outlives_the_grace_and_leaves_it_to_its_lease(
    open_same_store: OpenStore,
) -> None:
    m = quick()  # timeout 1s: the lease a cancelled attempt is left to
    store = open_same_store()
    tasks = AsyncRebaseTasks(hang)

    async def stop_while_hanging() -> bool:
        return await (await stop_once_running(m, store, tasks, grace=0))

    assert asyncio.run(stop_while_hanging()) is False
    assert tasks.cancelled == [("i0", 1)]
    history = ProcessManager(definition(m), store).history("r1")
    assert names(history)[-1] == "TaskStarted"  # no outcome: the attempt is left to its lease

    # Another worker records its timeout when the lease expires, and retries it.
    other = Worker(definition(m), open_same_store(), RebaseTasks(), idle_wait=0.01)
    other.start()
    try:
        ended = ProcessManager(definition(m), store)
        wait_until(lambda: ended.state("r1").ended)
    finally:
        other.stop()
    history = ProcessManager(definition(m), store).history("r1")
    assert_well_formed(history)
    assert [t.attempt for t in of_type(history, "TaskTimedOut")] == [1]
    assert [c.attempt for c in of_type(history, "TaskCompleted")] == [2]


def test_run_once_does_what_is_due_and_awaits_it(store: ProcessStore) -> None:
    m = seed()
    tasks = AsyncRebaseTasks(succeed)

    async def drain() -> int:
        async with async_manager(m, store) as aio:
            await start_r1(aio, m, 2)
        worker = AsyncWorker(definition(m), store, tasks)
        try:
            return await worker.drain()
        finally:
            worker.close()

    assert asyncio.run(drain()) == 2
    assert ProcessManager(definition(m), store).state("r1").ended


def test_a_limit_below_one_is_refused(store: ProcessStore) -> None:
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        AsyncWorker(definition(seed()), store, AsyncRebaseTasks(succeed), max_concurrency=0)


# A worker left running when its loop ends (no ``stop``), in a process of its
# own: the interpreter's exit joins the worker's threads.
LEFT_RUNNING = """
import asyncio, threading
from pmc.runtime.aio import AsyncWorker
from pmc.runtime.stores import open_store
from tests.runtime.support import RebaseTasks, definition, seed

class NotingStore:
    def __init__(self, inner):
        self.inner, self.waiting = inner, threading.Event()
    def __getattr__(self, name):
        return getattr(self.inner, name)
    def wait_for_due(self, timeout, category=None):
        self.waiting.set()
        return self.inner.wait_for_due(timeout, category=category)

async def leave_running():
    store = NotingStore(open_store("memory://"))
    worker = AsyncWorker(definition(seed()), store, RebaseTasks())
    await worker.start()
    await asyncio.to_thread(store.waiting.wait)  # its claim thread waits for work

asyncio.run(leave_running())
print("left")
"""


def exited(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``script`` run by a Python of its own in the repository; a failure if it has
    not exited after ``timeout`` seconds (something held the interpreter's exit)."""
    try:
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"still not exited after {timeout} s; stdout: {expired.stdout!r}")


def test_a_worker_whose_loop_ends_without_stop_lets_the_interpreter_exit() -> None:
    done = exited(LEFT_RUNNING, timeout=120)

    assert (done.returncode, done.stdout) == (0, "left\n"), done.stderr


# ---- handlers that misbehave --------------------------------------------------------
# A handler swallowing its cancellation, one blocking the loop, one whose lease
# stops slowly after it returned, a ``def`` handler outliving ``stop``, and a
# stopped worker started again.


def test_stop_returns_even_if_a_handler_ignores_its_cancellation(store: ProcessStore) -> None:
    """As the threaded worker's stop(), AsyncWorker.stop gives up a second after
    cancelling and returns False: a handler that swallows CancelledError (a common bug
    in third-party code) must not make stop() — and so a FastAPI shutdown — hang."""
    m = untimed()
    release = asyncio.Event()

    async def ignore_cancellation(ctx: TaskContext) -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # swallowed
                await release.wait()

    tasks = AsyncRebaseTasks(ignore_cancellation)

    async def stop_while_ignoring() -> bool:
        stopping = await stop_once_running(m, store, tasks, grace=0)
        done, _ = await asyncio.wait({stopping}, timeout=10)
        release.set()  # let the test end either way
        await stopping
        return bool(done)

    assert asyncio.run(stop_while_ignoring()), "stop(grace=0) still waiting after 10 s"


def test_a_handler_that_returned_has_its_outcome_recorded_even_if_cancelled_while_its_lease_stops(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/runtime.md: "An attempt whose handler returned has its outcome recorded,
    cancelled or not". After the handler returned, its lease is stopped (Lease.stop
    waits for a renewal under way, a store write) and its outcome recorded: a stop()
    past its grace (or the loop ending) cancelling it there must not drop the outcome."""
    m = untimed()  # no timeout: the lease is kept, so stopped after the handler returns
    slow_stop = Lease.stop

    def stop_during_a_slow_renewal(lease: Lease) -> None:
        time.sleep(0.5)  # a renewal under way (a contended store write)
        slow_stop(lease)

    monkeypatch.setattr(Lease, "stop", stop_during_a_slow_renewal)
    returned: list[int] = []

    async def side_effect_done(ctx: TaskContext) -> None:
        returned.append(ctx.attempt)  # e.g. the cloud instance was closed

    tasks = AsyncRebaseTasks(side_effect_done)

    async def stop_right_after_return() -> bool:
        stopping = await stop_once_running(m, store, tasks, grace=0.1)
        return await stopping

    asyncio.run(stop_right_after_return())

    history = ProcessManager(definition(m), store).history("r1")
    assert returned == [1]
    assert [c.attempt for c in of_type(history, "TaskCompleted")] == [1], names(history)


def test_a_handler_swallowing_its_timeout_is_recorded_as_timed_out(store: ProcessStore) -> None:
    """docs/runtime.md: "A task's timeout cancels the handler ...; TaskTimedOut is then
    recorded" — even if the handler catches the CancelledError and returns."""
    m = quick()  # timeout 1s

    async def swallow(ctx: TaskContext) -> None:
        if ctx.attempt == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return

    tasks = AsyncRebaseTasks(swallow)
    asyncio.run(run_to_end(m, store, tasks, 1))

    history = ProcessManager(definition(m), store).history("r1")
    assert [t.attempt for t in of_type(history, "TaskTimedOut")] == [1], names(history)


def test_a_handler_blocking_the_loop_past_its_timeout_is_timed_out_once(
    store: ProcessStore,
) -> None:
    """An ``async def`` handler that blocks the loop (``time.sleep``, a sync HTTP client)
    cannot be cancelled at its timeout (docs/runtime.md warns of it); returning after
    its timeout (1 s) passed, it is recorded as timed out, once."""
    m = quick()  # timeout 1s, retry 3 at once

    async def block_first(ctx: TaskContext) -> None:
        if ctx.attempt == 1:
            time.sleep(2.5)  # blocks the event loop, the worker's and the service's

    tasks = AsyncRebaseTasks(block_first)
    asyncio.run(run_to_end(m, store, tasks, 1))

    history = ProcessManager(definition(m), store).history("r1")
    assert [t.attempt for t in of_type(history, "TaskTimedOut")] == [1], names(history)


def test_a_stopped_worker_refuses_to_start_again(store: ProcessStore) -> None:
    """stop() shuts the pools down: start() then refuses with a clear error
    (WorkerStopped), where a claim loop would log "cannot schedule new futures after
    shutdown" every idle_wait, forever, and run nothing."""
    m = untimed()

    async def restart() -> None:
        worker = AsyncWorker(definition(m), store, AsyncRebaseTasks(succeed), idle_wait=0.01)
        await worker.start()
        await worker.stop()
        try:
            with pytest.raises(RuntimeError, match="was stopped") as refused:
                await worker.start()
            assert isinstance(refused.value, PmcError)
        finally:
            await worker.stop(0)

    asyncio.run(restart())


# A ``def`` handler still running when stop() gives up on it, in a process of its own:
# it runs in a daemon thread, as the threaded worker's handlers do, so the interpreter
# exits (a pool's threads, joined at exit by concurrent.futures, would hold it).
DEF_HANDLER_LEFT_RUNNING = """
import asyncio, threading, time
from pmc.runtime.aio import AsyncProcessManager, AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from tests.runtime.support import definition, untimed

m = untimed()
running = threading.Event()

class Tasks:
    def close_instance(self, task, ctx):
        running.set()
        time.sleep(60)  # ignores ctx.cancelled

async def stop_while_running():
    store = open_store("memory://")
    manager = ProcessManager(definition(m), store, with_worker=True)
    async with AsyncProcessManager(manager) as aio:
        await aio.handle(m.RebaseFailed(rebase_id="r1", instances=["i0"]))
    worker = AsyncWorker(definition(m), store, Tasks())
    await worker.start()
    await asyncio.to_thread(running.wait)
    print(await worker.stop(0))

asyncio.run(stop_while_running())
"""


def test_a_def_handler_outliving_stop_does_not_hold_the_interpreters_exit() -> None:
    done = exited(DEF_HANDLER_LEFT_RUNNING, timeout=20)  # stop(0) gives up at once

    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr
