"""Workers that survive anything, honest totals, bounded conflicts, structured logs."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from pmc.runtime import End, TaskContext
from pmc.runtime.attempts import completed_event, outcome_id, started_event, started_id
from pmc.runtime.instances import InstanceUpdate
from pmc.runtime.log import record_fields
from pmc.runtime.manager import AttemptReport, ConflictRetriesExhausted, ProcessManager
from pmc.runtime.results import Report
from pmc.runtime.stores import NewEvent, ProcessStore, VersionConflict, WorkChanges
from pmc.runtime.worker import TimeoutReport, TimerReport, Worker, WorkerStats
from tests.runtime.support import (
    FakeClock,
    RebaseTasks,
    ReminderTasks,
    definition,
    names,
    of_type,
    reminder,
    seed,
    wait_until,
)

# ---- handlers and threads that raise BaseException -----------------------------------


class ExitingTasks:
    """Instance A's first attempt calls sys.exit(3); everything else succeeds."""

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        if ctx.machine_id == "A" and ctx.attempt == 1:
            sys.exit(3)


def test_a_handler_calling_sys_exit_is_a_failed_attempt(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, ExitingTasks())
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))

    worker.drain()
    clock.advance(seconds=2)
    worker.drain()

    assert [f.reason for f in of_type(manager.history("r1"), "TaskFailed")] == ["SystemExit: 3"]
    assert manager.state("r1").end is End.COMPLETED
    assert (worker.stats.completed, worker.stats.retrying) == (2, 1)


def test_a_running_worker_survives_handlers_that_raise_base_exceptions(
    store: ProcessStore,
    clock: FakeClock,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    class Interrupting:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            if ctx.attempt == 1:
                raise KeyboardInterrupt

    worker = Worker(definition(m), store, Interrupting(), concurrency=1)
    worker.start()
    try:
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

        def ended() -> bool:
            # The retry waits 2 s (`backoff 2s`): the same thread must still be alive then.
            clock.advance(seconds=0.5)
            return manager.state("r1").ended

        wait_until(ended, timeout=15)
    finally:
        assert worker.stop()

    assert [f.reason for f in of_type(manager.history("r1"), "TaskFailed")] == ["KeyboardInterrupt"]
    assert manager.state("r1").end is End.COMPLETED


def test_a_worker_thread_that_crashes_is_logged_and_restarted(
    store: ProcessStore, caplog: pytest.LogCaptureFixture
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    seen: list[Report] = []

    def listener(progress: Report, stats: WorkerStats) -> None:
        seen.append(progress)
        if len(seen) == 1:
            raise SystemExit("listener gave up")  # escapes process(): only the loop sees it

    worker = Worker(
        definition(m), store, RebaseTasks(), concurrency=1, listener=listener, idle_wait=0.05
    )
    with caplog.at_level(logging.CRITICAL, logger="pmc.runtime"):
        worker.start()
        try:
            manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
            wait_until(lambda: manager.state("r1").ended, timeout=15)
        finally:
            assert worker.stop()

    assert manager.state("r1").end is End.COMPLETED
    assert worker.stats.crashes == 1
    crashes = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashes) == 1
    assert "crashed (SystemExit: listener gave up); restarting its loop" in crashes[0].getMessage()


# ---- totals and progress ---------------------------------------------------------------


def test_timeouts_count_as_retried_then_failed_and_are_reported(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = seed()  # CloseInstance: `retry 3` (4 attempts), `timeout 30s`
    manager = ProcessManager(definition(m), store)
    seen: list[Report] = []
    worker = Worker(
        definition(m),
        store,
        RebaseTasks(),
        listener=lambda progress, _stats: seen.append(progress),
    )
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    for attempt in range(1, 5):
        # A worker starts the attempt and dies: its lease runs out.
        task = next(iter(manager.state("r1").tasks.values()))
        ghost = started_event(definition(m), task, "ghost", clock() + timedelta(seconds=30))
        manager.record("r1", ghost, started_id(task.task_id, attempt))
        clock.advance(seconds=30)
        worker.drain()

    assert names(manager.history("r1"))[-1] == "ProcessFailed"
    assert worker.stats == WorkerStats(failed=1, retrying=3, timed_out=4)
    assert all(isinstance(p, TimeoutReport) for p in seen)
    assert [(p.attempt, p.retry_scheduled) for p in seen if isinstance(p, TimeoutReport)] == [
        (1, True),
        (2, True),
        (3, True),
        (4, False),
    ]


def test_a_fired_timer_is_reported(store: ProcessStore, clock: FakeClock) -> None:
    m = reminder()
    seen: list[Report] = []
    worker = Worker(
        definition(m),
        store,
        ReminderTasks(),
        listener=lambda progress, _stats: seen.append(progress),
    )
    ProcessManager(definition(m), store).handle(m.Opened(ticket_id="t1"))

    clock.advance(hours=1)
    worker.drain()

    assert [(type(p), p.key) for p in seen] == [(TimerReport, "t1")]
    assert worker.stats == WorkerStats(timers_fired=1)


def test_an_outcome_that_was_not_recorded_is_not_counted(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    seen: list[Report] = []

    class CancelMeanwhile:
        """Another runner records this attempt's outcome while the handler runs."""

        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            state = manager.state(ctx.key)
            running = state.tasks[ctx.task_id]
            other = ProcessManager(definition(m), store, tasks=RebaseTasks())
            # The same outcome id: only the first of the two is recorded.
            completed = completed_event(definition(m), running, None)
            other.record(ctx.key, completed, outcome_id(ctx.task_id, ctx.attempt))

    worker = Worker(
        definition(m),
        store,
        CancelMeanwhile(),
        listener=lambda progress, _stats: seen.append(progress),
    )
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.drain()

    assert manager.state("r1").end is End.COMPLETED
    assert names(manager.history("r1")).count("TaskCompleted") == 1
    assert worker.stats.completed == 0
    reports = [p for p in seen if isinstance(p, AttemptReport)]
    assert [r.recorded.recorded for r in reports] == [False]


# ---- version conflicts ------------------------------------------------------------------


class AlwaysConflicting:
    """A store whose every append loses a race."""

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.appends = 0

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
        self.appends += 1
        raise VersionConflict(category, key, expected_version, expected_version + 1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_decision_gives_up_after_the_conflict_bound(store: ProcessStore) -> None:
    m = seed()
    conflicting = AlwaysConflicting(store)
    manager = ProcessManager(definition(m), conflicting, max_conflicts=3)  # type: ignore[arg-type]

    with pytest.raises(ConflictRetriesExhausted) as raised:
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    assert conflicting.appends == 4  # the first try and 3 more
    assert (raised.value.category, raised.value.key, raised.value.attempts) == ("RtRebase", "r1", 4)
    assert "gave up after 4 version conflicts in a row" in str(raised.value)
    assert store.load("RtRebase", "r1") == []


# ---- logs ---------------------------------------------------------------------------------


def test_decisions_and_attempts_are_logged_with_their_fields(
    store: ProcessStore, caplog: pytest.LogCaptureFixture
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(), worker_id="w1")

    with caplog.at_level(logging.INFO, logger="pmc.runtime"):
        handled = manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]), uuid.uuid4())
        worker.drain()

    records = [record_fields(r) for r in caplog.records]
    decision = next(f for f in records if f.get("event") == "RebaseFailed")
    assert decision == {
        "category": "RtRebase",
        "key": "r1",
        "event": "RebaseFailed",
        "event_id": str(handled.event_id),
        "status": "recorded",
        "version": 2,
        "decisions": ["TransitionPlanned"],
    }
    attempts = [f for f in records if "attempt" in f]
    assert [f["outcome"] for f in attempts] == ["started", "completed"]
    task_id = str(of_type(manager.history("r1"), "TransitionPlanned")[0].task_id)
    for fields in attempts:
        assert {k: fields[k] for k in ("task", "task_id", "machine_id", "attempt", "worker")} == {
            "task": "CloseInstance",
            "task_id": task_id,
            "machine_id": "A",
            "attempt": 1,
            "worker": "w1",
        }
    assert attempts[1]["reason"] is None


def test_threads_are_not_left_running(store: ProcessStore) -> None:
    before = threading.active_count()
    worker = Worker(definition(seed()), store, RebaseTasks(), concurrency=3)
    worker.start()
    assert worker.stop()
    assert threading.active_count() == before
