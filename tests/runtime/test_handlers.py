"""Task handlers: ``async def``, permanent failures, outcomes never thrown away.

Every outcome of an attempt that ran is recorded: late (the instance left the
state, the task settled, the process ended) it changes nothing; if writing it
fails on a transient store error, the write is retried before the attempt is
left to its lease.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from collections.abc import Sequence
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from pmc.cli.worker import progress_line, summary
from pmc.runtime import End, PermanentFailure, TaskContext, loops
from pmc.runtime.attempts import completed_event, outcome_id
from pmc.runtime.instances import InstanceUpdate
from pmc.runtime.manager import AttemptReport, HandleStatus, ProcessManager, SyncRetryWarning
from pmc.runtime.results import Report
from pmc.runtime.running import OUTCOME_WRITE_TRIES
from pmc.runtime.stores import (
    AppendOutcome,
    AppendRequest,
    NewEvent,
    ProcessStore,
    WorkChanges,
    open_store,
)
from pmc.runtime.worker import Worker, WorkerStats
from pmc.streams.export import export_streams, read_json_lines, to_json_line
from pmc.streams.replay import group_streams, replay, store_streams
from tests.runtime.support import (
    FakeClock,
    OrderTasks,
    RebaseTasks,
    compiled,
    definition,
    names,
    of_type,
    order,
    seed,
    wait_until,
)

# The customer may pay by transfer while the card is being charged.
CHECKOUT = """
process RtCheckout {
    key order_id
    event Ordered { order_id: str }
    event PaidByTransfer { order_id: str }
    event Shipped { order_id: str }
    task Charge async { order_id: str  returns { charge_id: str }  retry 3 every 1s  timeout 30s }
    machine Payment {
        states New, Charging, Paid, Declined, Done
        initial New
        final Declined, Done
        transition charge: New -> Charging on Ordered run Charge(order_id = key)
        transition charged: Charging -> Paid on Charge completed
        transition declined: Charging -> Declined on Charge failed
        transition transfer: Charging -> Paid on PaidByTransfer
        transition ship: Paid -> Done on Shipped
    }
    fail when any Payment in Declined
}
"""

# A sync task retried after a delay: only a worker (or a later event) runs it.
SYNC_RETRY = """
process RtSyncRetry {
    key id
    event Go { id: str }
    task Ping sync { id: str  retry 2 every 2s }
    task Pong sync { id: str  retry 1 }
    machine M {
        states Idle, Pinging, Ponging, Done, Broken
        initial Idle
        final Done, Broken
        transition go: Idle -> Pinging on Go run Ping(id = key)
        transition pinged: Pinging -> Ponging on Ping completed run Pong(id = key)
        transition ping_failed: Pinging -> Broken on Ping failed
        transition ponged: Ponging -> Done on Pong completed
        transition pong_failed: Ponging -> Broken on Pong failed
    }
}
"""


def checkout() -> ModuleType:
    return compiled(CHECKOUT)


def sync_retry() -> ModuleType:
    return compiled(SYNC_RETRY)


# ---- async def handlers ---------------------------------------------------------------------


class AsyncOrderTasks:
    """RtOrder's handlers as coroutines: each awaits, then records what it did."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, int]] = []

    async def reserve(self, task: Any, ctx: TaskContext) -> Any:
        await asyncio.sleep(0.01)
        self.done.append(("Reserve", task.order_id, ctx.attempt))
        return {"reservation": f"res-{task.order_id}"}

    async def ship(self, task: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0.01)
        self.done.append(("Ship", task.reservation, ctx.attempt))


class MixedOrderTasks(AsyncOrderTasks):
    """One handler ``def``, the other ``async def``, in one object."""

    def reserve(self, task: Any, ctx: TaskContext) -> Any:  # type: ignore[override]
        self.done.append(("Reserve", task.order_id, ctx.attempt))
        return {"reservation": f"sync-{task.order_id}"}


def test_async_handlers_are_awaited_inline_and_by_workers(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()  # Reserve: sync, returns a reservation; Ship: async
    tasks = AsyncOrderTasks()
    manager = ProcessManager(definition(m), store, tasks)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" fails the test
        manager.handle(m.Placed(order_id="o1", items=["book"]))
        Worker(definition(m), store, tasks).drain()

    assert tasks.done == [("Reserve", "o1", 1), ("Ship", "res-o1", 1)]
    [reserved] = of_type(manager.history("o1"), "TaskCompleted")[:1]
    assert reserved.result == {"reservation": "res-o1"}
    assert manager.state("o1").end is End.COMPLETED


def test_def_and_async_def_handlers_mix_in_one_tasks_object(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    tasks = MixedOrderTasks()
    manager = ProcessManager(definition(m), store, tasks)

    manager.handle(m.Placed(order_id="o1", items=[]))
    Worker(definition(m), store, tasks).drain()

    assert tasks.done == [("Reserve", "o1", 1), ("Ship", "sync-o1", 1)]
    assert manager.state("o1").end is End.COMPLETED


def test_an_async_handler_runs_when_handle_is_called_inside_an_event_loop(
    store: ProcessStore,
) -> None:
    m = order()
    tasks = AsyncOrderTasks()
    manager = ProcessManager(definition(m), store, tasks)

    async def service() -> None:
        # A blocking call from async code: the handler cannot use this loop.
        manager.handle(m.Placed(order_id="o1", items=[]))

    asyncio.run(service())

    assert tasks.done == [("Reserve", "o1", 1)]
    assert of_type(manager.history("o1"), "TaskCompleted")[0].result == {"reservation": "res-o1"}


class LoopBoundTasks(AsyncOrderTasks):
    """``reserve`` holds a client bound to the loop of its first call (as httpx's does)."""

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[asyncio.AbstractEventLoop] = []
        self.client: asyncio.AbstractEventLoop | None = None

    async def reserve(self, task: Any, ctx: TaskContext) -> Any:
        loop = asyncio.get_running_loop()
        self.loops.append(loop)
        if self.client is None:
            self.client = loop
        if self.client is not loop:
            raise RuntimeError("the client is bound to another event loop")
        if task.order_id == "exit":
            raise SystemExit(3)
        return {"reservation": f"res-{task.order_id}"}


def test_async_handlers_called_from_running_loops_share_one_lasting_loop(
    store: ProcessStore,
) -> None:
    m = order()
    tasks = LoopBoundTasks()
    manager = ProcessManager(definition(m), store, tasks, with_worker=True)

    async def service(*keys: str) -> None:
        for key in keys:  # a blocking call from async code, as in a FastAPI endpoint
            manager.handle(m.Placed(order_id=key, items=[]))

    asyncio.run(service("o1", "o2"))
    asyncio.run(service("exit", "o3"))  # SystemExit fails its attempt, not the loop
    other = threading.Thread(target=asyncio.run, args=(service("o4"),))  # another service loop
    other.start()
    other.join()

    def reasons(key: str) -> list[str]:
        return [f.reason for f in of_type(manager.history(key), "TaskFailed")]

    assert reasons("exit") == ["SystemExit: 3"]
    assert [reasons(key) for key in ("o1", "o2", "o3", "o4")] == [[], [], [], []]
    for key in ("o1", "o2", "o3", "o4"):
        [reserved] = of_type(manager.history(key), "TaskCompleted")
        assert reserved.result == {"reservation": f"res-{key}"}
    assert len(tasks.loops) == 5
    assert len(set(map(id, tasks.loops))) == 1  # one loop, kept between attempts
    assert not tasks.loops[0].is_closed()


def test_the_helper_loop_closes_cleanly_and_a_new_one_starts_on_demand(
    store: ProcessStore,
) -> None:
    m = order()
    tasks = LoopBoundTasks()
    manager = ProcessManager(definition(m), store, tasks, with_worker=True)

    async def service(key: str) -> None:
        manager.handle(m.Placed(order_id=key, items=[]))

    asyncio.run(service("o1"))
    [first] = tasks.loops
    loops.close_helper_loop()  # as at interpreter exit

    assert first.is_closed()
    assert not any(t.name == "pmc-async-handlers" for t in threading.enumerate())
    tasks.client = None
    asyncio.run(service("o2"))
    assert tasks.loops[1] is not first and not tasks.loops[1].is_closed()
    assert [f.reason for f in of_type(manager.history("o2"), "TaskFailed")] == []


def test_an_async_handler_that_raises_fails_its_attempt(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    class Failing:
        async def close_instance(self, task: Any, ctx: TaskContext) -> None:
            await asyncio.sleep(0)
            if ctx.attempt == 1:
                raise RuntimeError("cloud said no")

    worker = Worker(definition(m), store, Failing())
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    worker.drain()
    clock.advance(seconds=2)
    worker.drain()

    assert [f.reason for f in of_type(manager.history("r1"), "TaskFailed")] == ["cloud said no"]
    assert manager.state("r1").end is End.COMPLETED


def test_a_worker_thread_reuses_its_event_loop_across_attempts(store: ProcessStore) -> None:
    m = seed()
    loops: list[asyncio.AbstractEventLoop] = []

    class LoopWatcher:
        async def close_instance(self, task: Any, ctx: TaskContext) -> None:
            loops.append(asyncio.get_running_loop())

    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, LoopWatcher(), concurrency=1)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))
    worker.start()
    try:
        wait_until(lambda: manager.state("r1").ended)
    finally:
        assert worker.stop()

    assert len(loops) == 3
    assert len(set(map(id, loops))) == 1  # one loop for the thread, not one per attempt


# ---- permanent failures ---------------------------------------------------------------------


class Declining:
    """Sync or async, the handler says the task can never succeed."""

    def __init__(self, use_async: bool) -> None:
        self.calls = 0
        self.use_async = use_async

    def charge(self, task: Any, ctx: TaskContext) -> Any:
        self.calls += 1
        if self.use_async:

            async def decline() -> None:
                raise PermanentFailure("hard decline: stolen card")

            return decline()
        raise PermanentFailure("hard decline: stolen card")


@pytest.mark.parametrize("use_async", [False, True], ids=["def", "async_def"])
def test_a_permanent_failure_fails_the_task_without_its_retries(
    store: ProcessStore, use_async: bool, clock: FakeClock
) -> None:
    m = checkout()  # Charge: `retry 3 every 1s`
    seen: list[Report] = []
    tasks = Declining(use_async)
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, tasks, listener=lambda p, _s: seen.append(p))
    manager.handle(m.Ordered(order_id="o1"))

    for _ in range(5):
        worker.drain()
        clock.advance(seconds=1)

    assert tasks.calls == 1
    [failed] = of_type(manager.history("o1"), "TaskFailed")
    assert (failed.reason, failed.permanent) == ("hard decline: stolen card", True)
    assert of_type(manager.history("o1"), "TaskRetryScheduled") == []
    state = manager.state("o1")
    assert (state.end, dict(state.instances["Payment"])) == (
        End.FAILED,
        {"Payment": "Declined"},
    )
    assert manager.replay("o1") == state
    assert worker.stats == WorkerStats(failed=1)
    [report] = [p for p in seen if isinstance(p, AttemptReport)]
    # Given up: a failure recorded with no retry after it.
    assert report.permanent and report.outcome == "failed"
    assert report.recorded.status is HandleStatus.RECORDED and not report.retry_scheduled
    assert progress_line(report) == (
        "Charge RtCheckout/o1 Payment attempt 1: "
        "failed permanently (hard decline: stolen card); failed for good"
    )


class GroupedCharge:
    """Charge runs its steps in an ``asyncio.TaskGroup``: errors come out in a group."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = errors
        self.calls = 0

    async def charge(self, task: Any, ctx: TaskContext) -> Any:
        self.calls += 1

        async def step(error: BaseException) -> None:
            raise error  # at its first step, so every step of the group raises

        async with asyncio.TaskGroup() as group:
            for error in self.errors:
                group.create_task(step(error))
        return {"charge_id": "c"}


def test_a_permanent_failure_inside_a_task_group_is_permanent(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = checkout()  # Charge: `retry 3 every 1s`
    tasks = GroupedCharge(PermanentFailure("hard decline"))
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, tasks)
    manager.handle(m.Ordered(order_id="o1"))

    for _ in range(5):
        worker.drain()
        clock.advance(seconds=1)

    assert tasks.calls == 1
    [failed] = of_type(manager.history("o1"), "TaskFailed")
    assert (failed.reason, failed.permanent) == ("hard decline", True)
    assert manager.state("o1").end is End.FAILED


@pytest.mark.parametrize(
    ("errors", "reason", "permanent"),
    [
        # One error in a group reads as if it had been raised alone.
        ((RuntimeError("cloud said no"),), "cloud said no", False),
        (
            (ValueError("bad amount"), KeyError("card")),
            "2 errors: ValueError: bad amount; KeyError: 'card'",
            False,
        ),
        # A PermanentFailure among other errors: permanent, with its reason.
        ((ValueError("bad amount"), PermanentFailure("hard decline")), "hard decline", True),
    ],
    ids=["one", "two", "permanent_among_others"],
)
def test_the_reason_of_errors_in_a_group_names_its_leaves(
    store: ProcessStore,
    clock: FakeClock,
    errors: tuple[BaseException, ...],
    reason: str,
    permanent: bool,
) -> None:
    m = checkout()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, GroupedCharge(*errors))
    manager.handle(m.Ordered(order_id="o1"))
    worker.drain()

    [failed] = of_type(manager.history("o1"), "TaskFailed")
    assert (failed.reason, failed.permanent) == (reason, permanent)
    retried = of_type(manager.history("o1"), "TaskRetryScheduled") != []
    assert retried is not permanent


def test_errors_in_nested_groups_are_named_leaf_by_leaf(store: ProcessStore) -> None:
    m = checkout()
    group = ExceptionGroup(
        "outer", [ValueError("a"), ExceptionGroup("inner", [KeyError("b"), OSError()])]
    )

    class Raising:
        def charge(self, task: Any, ctx: TaskContext) -> Any:
            raise group

    manager = ProcessManager(definition(m), store)
    manager.handle(m.Ordered(order_id="o1"))
    Worker(definition(m), store, Raising()).drain()

    [failed] = of_type(manager.history("o1"), "TaskFailed")
    assert failed.reason == "3 errors: ValueError: a; KeyError: 'b'; OSError"


def test_permanent_failure_is_exported_with_its_reason() -> None:
    error = PermanentFailure("hard decline")

    assert isinstance(error, Exception)
    assert (error.reason, str(error)) == ("hard decline", "hard decline")


# ---- late outcomes ---------------------------------------------------------------------------


class BlockingCharge:
    """Charge blocks until released, then returns a charge id (async or not)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.block_attempts = {1}

    def charge(self, task: Any, ctx: TaskContext) -> Any:
        if ctx.attempt in self.block_attempts:
            self.started.set()
            assert self.release.wait(10)
        return {"charge_id": f"ch-{ctx.attempt}"}


def test_an_outcome_after_the_instance_left_the_state_is_recorded_late(
    store: ProcessStore,
) -> None:
    m = checkout()
    tasks = BlockingCharge()
    seen: list[Report] = []
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, tasks, listener=lambda p, _s: seen.append(p))
    manager.handle(m.Ordered(order_id="o1"))
    running = threading.Thread(target=worker.drain)
    running.start()
    assert tasks.started.wait(5)

    # The customer pays by transfer while the card is being charged.
    manager.handle(m.PaidByTransfer(order_id="o1"))
    paid = manager.state("o1")
    tasks.release.set()
    running.join(10)

    history = manager.history("o1")
    assert names(history)[-3:] == ["PaidByTransfer", "TransitionPlanned", "TaskCompleted"]
    [charged] = of_type(history, "TaskCompleted")
    assert charged.result == {"charge_id": "ch-1"}  # the stream shows the charge
    state = manager.state("o1")
    assert (state.instances, state.tasks, state.version) == (
        paid.instances,
        paid.tasks,
        paid.version + 1,
    )
    assert manager.replay("o1") == state
    [report] = [p for p in seen if isinstance(p, AttemptReport)]
    assert report.recorded.status is HandleStatus.LATE and report.recorded.recorded
    assert worker.stats == WorkerStats(late=1)
    assert progress_line(report) == (
        "Charge RtCheckout/o1 Payment attempt 1: completed; recorded late, changes nothing"
    )
    assert summary(worker.stats).endswith(", late 1")


def test_an_attempt_that_timed_out_and_was_superseded_still_records_its_outcome(
    open_same_store: Any,
    clock: FakeClock,
) -> None:
    m = checkout()  # Charge: `timeout 30s`, `retry 3 every 1s`
    store = open_same_store()
    tasks = BlockingCharge()
    seen: list[Report] = []
    manager = ProcessManager(definition(m), store)
    slow = Worker(definition(m), store, tasks, listener=lambda p, _s: seen.append(p))
    other = Worker(definition(m), open_same_store(), tasks)
    manager.handle(m.Ordered(order_id="o1"))
    running = threading.Thread(target=slow.drain)
    running.start()
    assert tasks.started.wait(5)

    clock.advance(seconds=30)  # attempt 1's lease expires while it runs
    other.drain()
    clock.advance(seconds=1)
    other.drain()  # attempt 2 runs and completes the task
    assert [c.attempt for c in of_type(manager.history("o1"), "TaskCompleted")] == [2]
    settled = manager.state("o1")
    tasks.release.set()
    running.join(10)

    history = manager.history("o1")
    assert [(c.attempt, c.result) for c in of_type(history, "TaskCompleted")] == [
        (2, {"charge_id": "ch-2"}),
        (1, {"charge_id": "ch-1"}),  # the first charge happened too: the stream says so
    ]
    assert manager.state("o1").instances == settled.instances
    [report] = [p for p in seen if isinstance(p, AttemptReport)]
    assert report.timed_out and report.recorded.status is HandleStatus.LATE
    assert progress_line(report) == (
        "Charge RtCheckout/o1 Payment attempt 1: "
        "timed out earlier, then completed; recorded late, changes nothing"
    )


# ---- a transient store error while recording an outcome ------------------------------------


class Flaky:
    """A store whose next ``failures`` appends fail as a dropped connection would."""

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.failures = 0
        self.failed = 0
        self.error: Exception = OperationalError(
            "INSERT ...", {}, Exception("server closed the connection")
        )
        # Appends that are written, and then raise (the commit landed, the
        # connection dropped before the answer came back).
        self.landed_failures = 0

    def append(
        self,
        category: str,
        key: str,
        events: Sequence[NewEvent],
        expected_version: int,
        work: WorkChanges | None = None,
        *,
        now: datetime | None = None,
        instance: InstanceUpdate | None = None,
    ) -> None:
        self._fail_before()
        self.inner.append(category, key, events, expected_version, work, now=now, instance=instance)
        self._fail_after()

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        """A group commit fails as a whole, as one append does."""
        self._fail_before()
        outcomes = self.inner.append_many(requests)
        self._fail_after()
        return outcomes

    def _fail_before(self) -> None:
        if self.failures:
            self.failures -= 1
            self.failed += 1
            raise self.error

    def _fail_after(self) -> None:
        if self.landed_failures:
            self.landed_failures -= 1
            self.failed += 1
            raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_outcome_write_that_fails_once_is_retried(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setattr("pmc.runtime.running.OUTCOME_WRITE_BACKOFF", 0.001)
    m = seed()
    flaky = Flaky(store)
    manager = ProcessManager(definition(m), store)
    calls: list[int] = []

    class Tasks:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            calls.append(ctx.attempt)
            flaky.failures = 2  # the connection drops while the handler runs

    worker = Worker(definition(m), flaky, Tasks())  # type: ignore[arg-type]
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.drain()

    assert flaky.failed == 2
    assert calls == [1]
    assert names(manager.history("r1"))[-3:] == [
        "TaskCompleted",
        "TransitionPlanned",
        "ProcessCompleted",
    ]
    assert worker.stats.completed == 1


def test_an_outcome_write_that_keeps_failing_leaves_the_attempt_to_its_lease(
    store: ProcessStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    clock: FakeClock,
) -> None:
    monkeypatch.setattr("pmc.runtime.running.OUTCOME_WRITE_BACKOFF", 0.001)
    m = seed()
    flaky = Flaky(store)
    manager = ProcessManager(definition(m), store)

    class Tasks:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            flaky.failures = 1000

    worker = Worker(definition(m), flaky, Tasks())  # type: ignore[arg-type]
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    with caplog.at_level(logging.ERROR, logger="pmc.runtime"):
        worker.drain()

    assert flaky.failed == OUTCOME_WRITE_TRIES
    assert names(manager.history("r1"))[-1] == "TaskStarted"
    assert any(
        "could not record the outcome (try 5: " in r.getMessage()
        and r.getMessage().endswith("the attempt is left to its lease")
        for r in caplog.records
    )


def test_an_outcome_write_refused_for_its_data_is_not_retried(
    store: ProcessStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    clock: FakeClock,
) -> None:
    monkeypatch.setattr("pmc.runtime.running.OUTCOME_WRITE_BACKOFF", 0.001)
    m = seed()
    flaky = Flaky(store)
    flaky.error = DataError("INSERT ...", {}, Exception("invalid input syntax for type json"))
    manager = ProcessManager(definition(m), store)

    class Tasks:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            flaky.failures = 1000

    worker = Worker(definition(m), flaky, Tasks())  # type: ignore[arg-type]
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    with caplog.at_level(logging.WARNING, logger="pmc.runtime"):
        worker.drain()

    assert flaky.failed == 1  # not a blip: trying again cannot help
    assert names(manager.history("r1"))[-1] == "TaskStarted"
    messages = [r.getMessage() for r in caplog.records if "could not record" in r.getMessage()]
    assert len(messages) == 1
    assert "could not record the outcome (DataError: " in messages[0]
    assert messages[0].endswith("the attempt is left to its lease")


def test_an_outcome_write_that_landed_but_raised_is_reported_as_recorded(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setattr("pmc.runtime.running.OUTCOME_WRITE_BACKOFF", 0.001)
    m = seed()
    flaky = Flaky(store)
    manager = ProcessManager(definition(m), store)
    told: list[str] = []

    class Tasks:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            flaky.landed_failures = 1  # the commit lands, then the connection drops

    worker = Worker(
        definition(m),
        flaky,  # type: ignore[arg-type]
        Tasks(),
        listener=lambda progress, stats: told.append(progress_line(progress)),
    )
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.drain()

    assert flaky.failed == 1
    assert names(manager.history("r1")).count("TaskCompleted") == 1
    assert manager.state("r1").end is End.COMPLETED
    assert worker.stats.completed == 1
    assert told == ["CloseInstance RtRebase/r1 A attempt 1: completed"]


def test_a_landed_failure_write_reports_the_retry_it_scheduled(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setattr("pmc.runtime.running.OUTCOME_WRITE_BACKOFF", 0.001)
    m = seed()
    flaky = Flaky(store)
    manager = ProcessManager(definition(m), store)
    reports: list[AttemptReport] = []

    class Tasks:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            flaky.landed_failures = 1
            raise RuntimeError("busy")

    worker = Worker(
        definition(m),
        flaky,  # type: ignore[arg-type]
        Tasks(),
        listener=lambda progress, stats: reports.append(progress),  # type: ignore[arg-type]
    )
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.run_once()

    assert [r.describe() for r in reports] == ["failed (busy); retry scheduled"]
    assert worker.stats.retrying == 1


def test_attempt_log_lines_name_machines_as_progress_lines_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m, rebase = checkout(), seed()
    store = open_store("memory://")

    class Charging:
        def charge(self, task: Any, ctx: TaskContext) -> Any:
            return m.ChargeResult(charge_id="c1")

    ProcessManager(definition(m), store).handle(m.Ordered(order_id="o1"))
    ProcessManager(definition(rebase), store).handle(
        rebase.RebaseFailed(rebase_id="r1", instances=["A"])
    )

    with caplog.at_level(logging.INFO, logger="pmc.runtime"):
        Worker(definition(m), store, Charging()).drain()
        Worker(definition(rebase), store, RebaseTasks()).drain()

    attempts = [r.getMessage() for r in caplog.records if " attempt 1 " in r.getMessage()]
    # A single-instance machine by its name alone (its id is its name), as
    # `pmc worker` says it; an instance of a many-instance one as machine/id.
    assert attempts == [
        "RtCheckout/o1: Charge Payment attempt 1 started",
        "RtCheckout/o1: Charge Payment attempt 1 completed",
        "RtRebase/r1: CloseInstance Instance/A attempt 1 started",
        "RtRebase/r1: CloseInstance Instance/A attempt 1 completed",
    ]


# ---- sync tasks retried after a delay ----------------------------------------------------


class PingPong:
    def ping(self, task: Any, ctx: TaskContext) -> None:
        pass

    def pong(self, task: Any, ctx: TaskContext) -> None:
        pass


class ReserveOnly:
    """RtOrder's handlers with ``ship`` misspelled: a setup mistake, not a task failure."""

    def reserve(self, task: Any, ctx: TaskContext) -> Any:
        return {"reservation": "r"}

    def shpi(self, task: Any, ctx: TaskContext) -> None:
        pass


def test_a_manager_refuses_task_handlers_lacking_a_method(store: ProcessStore) -> None:
    m = order()

    # As Worker does: a typo must not become TaskFailed events that burn retries.
    with pytest.raises(TypeError, match=r"the task handlers lack ship \(see the RtOrderTasks"):
        ProcessManager(definition(m), store, ReserveOnly(), with_worker=True)
    with pytest.raises(TypeError, match="the task handlers lack reserve, ship"):
        ProcessManager(definition(m), store, object())

    manager = ProcessManager(definition(m), store)  # no handlers: sync tasks left to workers
    manager.handle(m.Placed(order_id="o1", items=[]))
    assert of_type(manager.history("o1"), "TaskFailed") == []


def test_a_manager_running_sync_tasks_warns_when_their_retries_need_a_worker(
    store: ProcessStore,
) -> None:
    m = sync_retry()  # Ping: `retry 2 every 2s`; Pong: `retry 1` (no delay: runs inline)

    with pytest.warns(SyncRetryWarning) as warned:
        ProcessManager(definition(m), store, PingPong())

    [message] = [str(w.message) for w in warned]
    assert "Ping" in message and "Pong" not in message
    assert "pmc worker" in message


def test_no_sync_retry_warning_where_a_worker_runs_them(store: ProcessStore) -> None:
    m = sync_retry()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ProcessManager(definition(m), store)  # runs no sync task itself
        ProcessManager(definition(m), store, PingPong(), with_worker=True)
        Worker(definition(m), store, PingPong())
        ProcessManager(definition(order()), store, OrderTasks())  # Reserve has no retry


def test_a_report_names_an_earlier_timeout_and_an_outcome_not_recorded(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    task = next(iter(manager.state("r1").tasks.values()))
    event = completed_event(definition(m), task, None)
    manager.record("r1", event, outcome_id(task.task_id, 1))
    again = manager.record("r1", event, outcome_id(task.task_id, 1))
    report = AttemptReport(
        category="RtRebase",
        key="r1",
        machine="Instance",
        machine_id="A",
        task="CloseInstance",
        task_id=task.task_id,
        attempt=1,
        worker="w",
        outcome="failed",
        reason="boom",
        recorded=again,
        timed_out=True,
    )

    assert progress_line(report) == (
        "CloseInstance RtRebase/r1 A attempt 1: "
        "timed out earlier, then failed (boom); not recorded (deduplicated)"
    )


# ---- replay and export accept what this records ----------------------------------------------


def test_streams_with_late_outcomes_and_permanent_failures_replay_and_export(
    store: ProcessStore,
    clock: FakeClock,
) -> None:
    m = checkout()
    manager = ProcessManager(definition(m), store)
    # o1: paid by transfer while the charge ran: a late TaskCompleted.
    tasks = BlockingCharge()
    manager.handle(m.Ordered(order_id="o1"))
    running = threading.Thread(target=Worker(definition(m), store, tasks).drain)
    running.start()
    assert tasks.started.wait(5)
    manager.handle(m.PaidByTransfer(order_id="o1"))
    tasks.release.set()
    running.join(10)
    # o2: a hard decline, failed permanently.
    manager.handle(m.Ordered(order_id="o2"))
    Worker(definition(m), store, Declining(use_async=False)).drain()
    assert "TaskCompleted" in names(manager.history("o1"))
    assert of_type(manager.history("o2"), "TaskFailed")[0].permanent

    from_store = replay(definition(m), store_streams(store, "RtCheckout"))
    lines = [to_json_line(event) + "\n" for event in export_streams(store, "RtCheckout")]
    from_file = replay(definition(m), group_streams(read_json_lines(lines)))

    assert from_store.ok, from_store.findings
    assert from_file == from_store
    assert {s.key: s.state for s in from_store.streams} == {
        "o1": manager.state("o1"),
        "o2": manager.state("o2"),
    }
    assert '"permanent":true' in "".join(lines).replace(" ", "")
