"""AsyncWorker under handlers that misbehave: found by a review, each now fixed.

A handler swallowing its cancellation, one blocking the loop, one whose lease
stops slowly after it returned, a ``def`` handler outliving ``stop``, and a
stopped worker started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time

import pytest

from pmc.errors import PmcError
from pmc.runtime import TaskContext, running
from pmc.runtime.aio import AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore
from tests.runtime.support import definition, names, of_type, quick, untimed
from tests.runtime.test_aio_worker import (
    REPO,
    AsyncRebaseTasks,
    run_to_end,
    stop_once_running,
    succeed,
)


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
    slow_stop = running.Lease.stop

    def stop_during_a_slow_renewal(lease: running.Lease) -> None:
        time.sleep(0.5)  # a renewal under way (a contended store write)
        slow_stop(lease)

    monkeypatch.setattr(running.Lease, "stop", stop_during_a_slow_renewal)
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
    try:
        done = subprocess.run(
            [sys.executable, "-c", DEF_HANDLER_LEFT_RUNNING],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"still not exited 20 s after stop(0); stdout: {expired.stdout!r}")
    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr
