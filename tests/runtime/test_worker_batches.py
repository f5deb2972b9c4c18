"""A worker claims due rows in batches, starts their attempts in one write, runs
them at once and records outcomes finishing together in one write; one worker
may serve several processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.results import HandleResult
from pmc.runtime.running import OutcomeBatcher
from pmc.runtime.stores import (
    AppendOutcome,
    AppendRequest,
    ClaimAppends,
    Claimed,
    ProcessStore,
    VersionConflict,
    WorkItem,
    open_store,
)
from pmc.runtime.worker import Worker
from tests.conftest import OpenStore
from tests.runtime.counting import DriverCalls, counting
from tests.runtime.processes import SEED
from tests.runtime.support import (
    FakeClock,
    OrderTasks,
    RebaseTasks,
    compiled,
    definition,
    names,
    order,
    seed,
    wait_until,
)

LEASE = timedelta(minutes=5)


class Spy:
    """A store passing every call on, keeping the ``append_many`` batches' event names."""

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []
        self.claims = 0
        self.appends = 0

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        self.batches.append([type(new.event).__name__ for r in requests for new in r.events])
        return self.inner.append_many(requests)

    def append(self, *args: Any, **kwargs: Any) -> Any:
        self.appends += 1
        return self.inner.append(*args, **kwargs)

    def claim_due(self, *args: Any, **kwargs: Any) -> Any:
        self.claims += 1
        return self.inner.claim_due(*args, **kwargs)

    def claim_and_append(
        self, now: Any, worker_id: str, limit: int, lease: float, appends: ClaimAppends, **kw: Any
    ) -> Claimed:
        """A claim; what is appended with it counts as a batch, written in its transaction."""
        self.claims += 1
        written: list[str] = []

        def spied(items: Sequence[WorkItem]) -> Sequence[AppendRequest]:
            requests = appends(items)
            written[:] = [type(new.event).__name__ for r in requests for new in r.events]
            return requests

        claimed = self.inner.claim_and_append(now, worker_id, limit, lease, spied, **kw)
        if written:
            self.batches.append(written)
        return claimed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def started_batches(self) -> list[int]:
        return [batch.count("TaskStarted") for batch in self.batches if "TaskStarted" in batch]


def spied(store: ProcessStore) -> tuple[ProcessStore, Spy]:
    spy = Spy(store)
    as_store: ProcessStore = spy  # type: ignore[assignment]
    return as_store, spy


def plan(store: ProcessStore, keys: Sequence[str]) -> ProcessManager:
    """One CloseInstance task due for each key."""
    m = seed()
    manager = ProcessManager(definition(m), store)
    for key in keys:
        manager.handle(m.RebaseFailed(rebase_id=key, instances=["A"]))
    return manager


class Together:
    """Handlers that return only once ``parties`` of them run at the same time."""

    def __init__(self, parties: int, fail: str | None = None) -> None:
        self.barrier = threading.Barrier(parties, timeout=10)
        self.fail = fail

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.barrier.wait()  # a BrokenBarrierError if the others never come
        if ctx.key == self.fail:
            raise SystemExit(3)


# ---- batches ---------------------------------------------------------------------------


def test_a_claimed_batch_starts_its_attempts_in_one_write_and_runs_them_at_once(
    store: ProcessStore, clock: FakeClock
) -> None:
    manager = plan(store, ["r1", "r2", "r3", "r4"])
    spying, spy = spied(store)
    worker = Worker(definition(seed()), spying, Together(4), concurrency=4)

    assert worker.run_once() == 4

    assert spy.claims == 1
    assert spy.started_batches() == [4]  # four TaskStarted in one append_many
    assert spy.appends == 0
    assert worker.stats.completed == 4
    assert all(manager.state(key).end is End.COMPLETED for key in ("r1", "r2", "r3", "r4"))


def test_a_task_costs_a_worker_two_writes_and_no_read_of_its_own(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    ProcessManager(definition(m), store, OrderTasks()).handle(m.Placed(order_id="o1", items=[]))
    counted, calls = counting(store)
    worker = Worker(definition(m), counted, OrderTasks(), lease=LEASE)

    assert worker.run_once() == 1  # Ship (RtOrder also has a sync task, done already)

    # The claim read the stream's events (a cold cache) and recorded
    # TaskStarted; the outcome with its decision is one more write; and
    # after the outcome no read looks for sync tasks: the fold it left says
    # none is due.
    assert calls.take() == {"claim_and_append": 1, "append_many": 1}
    assert names(worker.manager.history("o1"))[-4:] == [
        "TaskStarted",
        "TaskCompleted",
        "TransitionPlanned",  # shipped
        "ProcessCompleted",
    ]


def test_a_task_s_whole_life_is_two_write_transactions(
    store_url: str, open_same_store: OpenStore, clock: FakeClock
) -> None:
    if store_url == "memory://":
        pytest.skip("memory:// has no transactions")
    m = order()
    with DriverCalls().noting() as driver:
        manager = ProcessManager(definition(m), open_same_store(), OrderTasks())
        manager.handle(m.Placed(order_id="o1", items=[]))
        # A worker of its own, as in another process: nothing of the stream
        # cached; its store ready (tables checked, a connection open).
        worker_store = open_same_store()
        worker_store.init()
        worker = Worker(definition(m), worker_store, OrderTasks(), lease=LEASE)
        driver.take()

        assert worker.run_once() == 1  # Ship

        transactions = driver.take()

    # The claim, the read of the stream's new events and TaskStarted in one
    # transaction; the outcome with the decision made on it in the other.
    # Nothing else writes; on SQLite the stream is read just before the
    # claim (the rows due, their streams), outside its write lock.
    postgres = store_url.startswith("postgresql")
    ahead = [] if postgres else [["SELECT", "SELECT"]]
    read = ["SELECT", "SELECT"] if postgres else []  # the tail; the stream's row, at once
    # The instance index's row, and its machine states where they changed:
    # on PostgreSQL sent in one call (noted as its first statement).
    index_row = ["UPDATE"]
    index_row_and_states = ["UPDATE"] if postgres else ["UPDATE", "INSERT"]
    # The claim, ..., the version, the event, the work row, the index.
    claim = ["UPDATE", *read, "UPDATE", "INSERT", "INSERT", *index_row]
    # The version, the events, the task's row, the index.
    outcome = ["UPDATE", "INSERT", "DELETE", *index_row_and_states]
    assert [[s for s in statements if s != "BEGIN"] for statements in transactions] == [
        *ahead,
        claim,
        outcome,
    ]
    assert names(worker.manager.history("o1"))[-4:] == [
        "TaskStarted",
        "TaskCompleted",
        "TransitionPlanned",  # shipped
        "ProcessCompleted",
    ]


def test_no_more_attempts_start_together_than_the_worker_runs_at_once(
    store: ProcessStore, clock: FakeClock
) -> None:
    # An attempt's lease starts at its TaskStarted: none may wait behind another.
    manager = plan(store, ["r1", "r2", "r3", "r4", "r5"])
    spying, spy = spied(store)
    worker = Worker(definition(seed()), spying, RebaseTasks(), concurrency=2)

    assert worker.run_once() == 5

    assert spy.claims == 1
    assert spy.started_batches() == [2, 2, 1]
    assert all(manager.state(f"r{n}").end is End.COMPLETED for n in range(1, 6))


def test_a_handler_crashing_in_a_batch_leaves_the_others_outcomes_alone(
    store: ProcessStore, clock: FakeClock
) -> None:
    manager = plan(store, ["r1", "r2", "r3"])
    worker = Worker(definition(seed()), store, Together(3, fail="r2"), concurrency=3)

    worker.run_once()

    assert manager.state("r1").end is End.COMPLETED
    assert manager.state("r3").end is End.COMPLETED
    failed = [e.event for e in manager.history("r2") if type(e.event).__name__ == "TaskFailed"]
    assert [f.reason for f in failed] == ["SystemExit: 3"]
    assert (worker.stats.completed, worker.stats.retrying) == (2, 1)


def test_an_outcome_the_store_refuses_in_a_batch_does_not_keep_the_others_out(
    store: ProcessStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    manager = plan(store, ["r1", "r2", "r3"])
    refusing = Refusing(store, key="r2")
    runner = Worker(definition(seed()), refusing.as_store(), RebaseTasks()).manager.task_runner()
    started = runner.start_attempts(
        [(key, next(iter(manager.state(key).tasks.values()))) for key in ("r1", "r2", "r3")],
        "w1",
        LEASE,
    )
    finished = [runner.run_handler(attempt, LEASE) for attempt in started if attempt]

    results = runner.record_outcomes(finished)

    assert [type(result).__name__ for result in results] == [
        "HandleResult",
        "DataError",
        "HandleResult",
    ]
    assert manager.state("r1").end is End.COMPLETED
    assert manager.state("r3").end is End.COMPLETED
    assert "TaskCompleted" not in names(manager.history("r2"))  # left to its lease


def test_a_start_the_store_refuses_with_the_claim_does_not_keep_the_other_rows(
    store: ProcessStore, clock: FakeClock
) -> None:
    manager = plan(store, ["r1", "r2", "r3"])
    refusing = RefusingStarts(store, key="r2")
    worker = Worker(definition(seed()), refusing.as_store(), RebaseTasks(), concurrency=3)

    assert worker.run_once() == 3

    assert refusing.refused_claims == 1  # claimed again without the starts
    assert manager.state("r1").end is End.COMPLETED
    assert manager.state("r3").end is End.COMPLETED
    assert "TaskStarted" not in names(manager.history("r2"))
    # Its row stays claimed until the claim expires: retried at that pace.
    assert worker.run_once() == 0
    clock.advance(seconds=31)
    assert worker.run_once() == 1


class RefusingStarts:
    """Refuses (as data, not a blip) every write holding a ``TaskStarted`` for ``key``."""

    def __init__(self, inner: ProcessStore, key: str) -> None:
        self.inner = inner
        self.key = key
        self.refused_claims = 0

    def claim_and_append(
        self, now: Any, worker_id: str, limit: int, lease: float, appends: ClaimAppends, **kw: Any
    ) -> Claimed:
        def refusing(items: Sequence[WorkItem]) -> Sequence[AppendRequest]:
            requests = appends(items)
            if self._refuses(requests):
                self.refused_claims += 1
                raise DataError("INSERT ...", {}, Exception("invalid input syntax for type json"))
            return requests

        return self.inner.claim_and_append(now, worker_id, limit, lease, refusing, **kw)

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        if self._refuses(requests):
            raise DataError("INSERT ...", {}, Exception("invalid input syntax for type json"))
        return self.inner.append_many(requests)

    def _refuses(self, requests: Sequence[AppendRequest]) -> bool:
        return any(
            r.key == self.key and type(new.event).__name__ == "TaskStarted"
            for r in requests
            for new in r.events
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def as_store(self) -> ProcessStore:
        as_store: ProcessStore = self  # type: ignore[assignment]
        return as_store


class Refusing:
    """Refuses (as data, not a blip) every write holding an outcome for ``key``."""

    def __init__(self, inner: ProcessStore, key: str) -> None:
        self.inner = inner
        self.key = key

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        if any(r.key == self.key and _has_outcome(r) for r in requests):
            raise DataError("INSERT ...", {}, Exception("invalid input syntax for type json"))
        return self.inner.append_many(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def as_store(self) -> ProcessStore:
        as_store: ProcessStore = self  # type: ignore[assignment]
        return as_store


def _has_outcome(request: AppendRequest) -> bool:
    return any(type(new.event).__name__ == "TaskCompleted" for new in request.events)


def test_outcomes_handed_in_during_a_write_are_recorded_together_in_the_next() -> None:
    written: list[list[str]] = []
    first_write = threading.Event()

    class Runner:
        """Stands in for a TaskRunner: the first write waits for three more outcomes."""

        def record_outcomes(self, finished: Sequence[Any]) -> list[HandleResult | Exception]:
            written.append(sorted(finished))
            if len(written) == 1:
                first_write.set()
                wait_until(lambda: batcher.waiting == 3)
            return [RuntimeError(name) for name in finished]

    batcher = OutcomeBatcher(Runner())  # type: ignore[arg-type]
    answers: dict[str, str] = {}

    def hand_in(name: str) -> None:
        answers[name] = str(batcher.record(name))  # type: ignore[arg-type]

    first = threading.Thread(target=hand_in, args=("a",))
    first.start()
    first_write.wait(10)
    others = [threading.Thread(target=hand_in, args=(name,)) for name in "bcd"]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)

    assert written == [["a"], ["b", "c", "d"]]
    assert answers == {name: name for name in "abcd"}  # each thread gets its own result


# ---- one worker, several processes -----------------------------------------------------


def other_seed() -> Any:
    return compiled(SEED.replace("process RtRebase", "process RtRebaseTwo"))


def test_one_worker_runs_the_tasks_of_several_processes(
    store: ProcessStore, clock: FakeClock
) -> None:
    one, two = seed(), other_seed()
    first = ProcessManager(definition(one), store)
    second = ProcessManager(definition(two), store)
    first.handle(one.RebaseFailed(rebase_id="r1", instances=["A"]))
    second.handle(two.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    spying, spy = spied(store)
    worker = Worker(
        definition(one),
        spying,
        RebaseTasks(),
        concurrency=3,
        also_serve=[(definition(two), RebaseTasks())],
    )

    assert worker.run_once() == 3

    assert worker.categories == ("RtRebase", "RtRebaseTwo")
    assert spy.claims == 1  # one claim across both processes
    assert first.state("r1").end is End.COMPLETED
    assert second.state("r1").end is End.COMPLETED
    assert worker.stats.completed == 3


def test_a_worker_serves_each_process_once() -> None:
    with pytest.raises(ValueError, match="RtRebase is repeated"):
        Worker(
            definition(seed()),
            open_store("memory://"),
            RebaseTasks(),
            also_serve=[(definition(seed()), RebaseTasks())],
        )


class StallStarts:
    """A store holding back its first ``TaskStarted`` write until the worker is stopping."""

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.starting = threading.Event()
        self.stop_requested = threading.Event()

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        self._stall(requests)
        return self.inner.append_many(requests)

    def claim_and_append(
        self, now: Any, worker_id: str, limit: int, lease: float, appends: ClaimAppends, **kw: Any
    ) -> Claimed:
        def stalling(items: Sequence[WorkItem]) -> Sequence[AppendRequest]:
            requests = appends(items)
            self._stall(requests)
            return requests

        return self.inner.claim_and_append(now, worker_id, limit, lease, stalling, **kw)

    def _stall(self, requests: Sequence[AppendRequest]) -> None:
        names = [type(new.event).__name__ for r in requests for new in r.events]
        if "TaskStarted" in names and not self.starting.is_set():
            self.starting.set()
            self.stop_requested.wait(5)
            # Several times a runner's wait for a job (``idle_wait``): runners
            # used to leave once stopping with nothing queued, before this
            # write handed them its attempt.
            time.sleep(0.3)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_attempt_started_while_the_worker_stops_is_run_before_it_stops(
    store: ProcessStore,
) -> None:
    manager = plan(store, ["r1"])
    stalling = StallStarts(store)
    tasks = RebaseTasks()
    worker = Worker(
        definition(seed()), stalling, tasks, worker_id="w", concurrency=1, idle_wait=0.05
    )
    worker.start()
    assert stalling.starting.wait(5)
    stopping = threading.Thread(target=worker.stop, kwargs={"grace": 5})
    stopping.start()
    stalling.stop_requested.set()
    stopping.join()

    # The TaskStarted was recorded while stopping: its handler ran, its outcome is recorded.
    assert tasks.calls.log, "an attempt recorded as started was never run"
    assert manager.state("r1").tasks == {}


class OneStartFails:
    """The first batch of ``TaskStarted``s: its first request is refused (another writer
    moved the stream) and the recorder's retry of it meets a dropped connection, while
    the batch's other requests are recorded."""

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.tripped = False
        self.raised = False

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        if self._trips(requests):
            first, rest = requests[0], requests[1:]
            return [_conflict(first), *self.inner.append_many(rest)]
        return self.inner.append_many(requests)

    def claim_and_append(
        self, now: Any, worker_id: str, limit: int, lease: float, appends: ClaimAppends, **kw: Any
    ) -> Claimed:
        """The same with the starts a claim records."""
        refused: list[AppendRequest] = []

        def tripping(items: Sequence[WorkItem]) -> Sequence[AppendRequest]:
            requests = appends(items)
            if self._trips(requests):
                refused.append(requests[0])
                return requests[1:]
            return requests

        claimed = self.inner.claim_and_append(now, worker_id, limit, lease, tripping, **kw)
        refusals: list[AppendOutcome] = [_conflict(first) for first in refused]
        return Claimed(claimed.items, [*refusals, *claimed.appended])

    def _trips(self, requests: Sequence[AppendRequest]) -> bool:
        names = [type(new.event).__name__ for r in requests for new in r.events]
        if "TaskStarted" in names and len(requests) > 1 and not self.tripped:
            self.tripped = True
            return True
        return False

    def append(self, *args: Any, **kwargs: Any) -> Any:
        if self.tripped and not self.raised:
            self.raised = True
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))
        return self.inner.append(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _conflict(request: AppendRequest) -> VersionConflict:
    return VersionConflict(request.category, request.key, request.expected_version, None)


def test_an_error_starting_one_attempt_of_a_batch_leaves_no_started_attempt_unrun(
    store: ProcessStore,
) -> None:
    manager = plan(store, ["r1", "r2"])
    failing = OneStartFails(store)
    tasks = KeyedTasks()
    worker = Worker(definition(seed()), failing, tasks, concurrency=2)

    worker.run_once()

    assert failing.raised, "the scenario did not happen"
    # The attempt whose start landed ran and completed; the other was not started.
    completed = [key for key in ("r1", "r2") if not manager.state(key).tasks]
    assert tasks.ran == completed and len(completed) == 1


class KeyedTasks:
    """RtRebase handlers noting the stream of each attempt they ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.ran.append(ctx.key)


TIMER_THEN_SYNC = """
process RvTimerSync {
    key id
    event Go { id: str }
    event Poke { id: str }
    task Slow sync { id: str }
    task Quick async { id: str }
    machine M {
        states Waiting, Running, Done, Broken
        initial Waiting
        final Done, Broken
        transition fire: Waiting -> Running on after 1s run Slow(id = key)
        transition done: Running -> Done on Slow completed
        transition broke: Running -> Broken on Slow failed
    }
    machine Q {
        states Idle, Busy, Over, Lost
        initial Idle
        final Over, Lost
        transition go: Idle -> Busy on Poke run Quick(id = key)
        transition over: Busy -> Over on Quick completed
        transition lost: Busy -> Lost on Quick failed
    }
    start on Go
}
"""


class SlowSyncTasks:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.slow_running = threading.Event()
        self.quick_started = threading.Event()

    def slow(self, task: Any, ctx: TaskContext) -> None:
        self.slow_running.set()
        self.release.wait(10)

    def quick(self, task: Any, ctx: TaskContext) -> None:
        self.quick_started.set()


def test_a_sync_handler_planned_by_a_fired_timer_does_not_hold_up_claiming(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = compiled(TIMER_THEN_SYNC)
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Go(id="t1"))
    clock.advance(seconds=2)  # t1's timer is due; firing it runs Slow
    tasks = SlowSyncTasks()
    worker = Worker(definition(m), store, tasks, concurrency=2, idle_wait=0.05)
    worker.start()
    try:
        assert tasks.slow_running.wait(5)
        # An async task comes due; a runner thread is idle.
        manager.handle(m.Go(id="q1"))
        manager.handle(m.Poke(id="q1"))
        deadline = time.monotonic() + 3
        while not tasks.quick_started.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        started_meanwhile = tasks.quick_started.is_set()
    finally:
        tasks.release.set()
        worker.stop(grace=5)

    # A runner thread fired the timer and runs Slow; the claim thread went on.
    assert started_meanwhile, "Quick waited for the sync handler the claiming thread ran"


class Stubborn:
    """RtRebase handlers that ignore ``ctx.cancelled`` until released."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.release = threading.Event()

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.running.set()
        self.release.wait(10)


def test_a_stop_that_cannot_end_a_thread_logs_where_it_is(
    store: ProcessStore, caplog: pytest.LogCaptureFixture
) -> None:
    plan(store, ["r1"])
    tasks = Stubborn()
    worker = Worker(definition(seed()), store, tasks, worker_id="w", concurrency=1)
    worker.start()
    try:
        assert tasks.running.wait(5)
        with caplog.at_level("WARNING", logger="pmc.runtime"):
            assert not worker.stop(grace=0.1)
    finally:
        tasks.release.set()

    [warning] = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert "w-0 in " in warning and "close_instance" in warning, warning
