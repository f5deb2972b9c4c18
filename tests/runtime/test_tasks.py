"""Sync and async tasks, retries, timeouts, timers and cancellation, on every store.

Time is a fake clock (the ``clock`` fixture), which the store runs on: a
worker's ``drain()`` does everything due at the store's time, so each test
says exactly when things become due.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

from pmc.runtime import End
from pmc.runtime.attempts import completed_event, outcome_id, started_event, started_id
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.work import set_work
from pmc.runtime.worker import Worker
from tests.runtime.support import (
    FakeClock,
    OrderTasks,
    RebaseTasks,
    ReminderTasks,
    assert_well_formed,
    definition,
    fail_first,
    names,
    of_type,
    order,
    reminder,
    seed,
)
from tests.runtime_store.rows import work_items

# ---- sync and async tasks ----------------------------------------------------------


def test_a_sync_task_runs_inline_and_its_result_feeds_an_async_one(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    tasks = OrderTasks()
    manager = ProcessManager(definition(m), store, tasks)

    result = manager.handle(m.Placed(order_id="o1", items=["book"]))

    # Reserve (sync) ran before handle returned; Ship (async) waits for a worker.
    assert tasks.calls.of("Reserve") == [("Order", 1)]
    assert [(r.task, r.outcome) for r in result.sync_runs] == [("Reserve", "completed")]
    history = manager.history("o1")
    assert names(history) == [
        "Placed",
        "TransitionPlanned",  # reserve, runs Reserve
        "TimerScheduled",  # Deadline's `after 1h`, entered with the process
        "TaskStarted",
        "TaskCompleted",
        "TransitionPlanned",  # reserved, runs Ship
    ]
    ship = of_type(history, "TransitionPlanned")[-1]
    assert (ship.task, ship.task_mode, ship.task_input) == (
        "Ship",
        "async",
        {"order_id": "o1", "reservation": "res-o1"},
    )
    assert tasks.calls.of("Ship") == []

    Worker(definition(m), store, tasks).drain()

    assert tasks.calls.of("Ship") == [("Order", 1)]
    assert names(manager.history("o1"))[-4:] == [
        "TaskStarted",
        "TaskCompleted",
        "TransitionPlanned",
        "ProcessCompleted",
    ]
    assert manager.state("o1").end is End.COMPLETED
    # The deadline's timer went with the end of the process.
    assert work_items(store, "RtOrder", "o1") == []


def test_a_sync_task_left_without_outcome_runs_on_the_next_event(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    # Without handlers the manager records the plan and cannot run it, as if
    # it had crashed right after the decision was stored.
    ProcessManager(definition(m), store, None).handle(m.Placed(order_id="o1", items=[]))
    tasks = OrderTasks()
    manager = ProcessManager(definition(m), store, tasks)

    result = manager.handle(m.Nudged(order_id="o1"))

    assert [(r.task, r.attempt) for r in result.sync_runs] == [("Reserve", 1)]
    assert tasks.calls.of("Reserve") == [("Order", 1)]


def test_a_worker_runs_a_forgotten_sync_task_once_its_grace_has_passed(
    store: ProcessStore,
    clock: FakeClock,
) -> None:
    m = order()
    ProcessManager(definition(m), store, None).handle(m.Placed(order_id="o1", items=[]))
    tasks = OrderTasks()
    worker = Worker(definition(m), store, tasks)

    worker.drain()
    assert tasks.calls.of("Reserve") == []  # the manager may still be about to run it

    clock.advance(seconds=30)
    worker.drain()
    assert tasks.calls.of("Reserve") == [("Order", 1)]
    assert tasks.calls.of("Ship") == [("Order", 1)]
    assert ProcessManager(definition(m), store).state("o1").end is End.COMPLETED


# ---- retries and timeouts ------------------------------------------------------------


def test_failed_attempts_are_retried_with_backoff(store: ProcessStore, clock: FakeClock) -> None:
    m = seed()
    tasks = RebaseTasks(fail_first(3))
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, tasks)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    start = clock()

    # `retry 3 backoff 2s max 1m`: waits of 2 s, 4 s, then 8 s.
    for wait in (2, 4, 8):
        worker.drain()
        worker.drain()  # nothing more is due until the retry's time
        retry = of_type(manager.history("r1"), "TaskRetryScheduled")[-1]
        assert retry.not_before == clock() + timedelta(seconds=wait)
        clock.advance(seconds=wait)
    worker.drain()

    history = manager.history("r1")
    assert [(f.attempt, f.reason) for f in of_type(history, "TaskFailed")] == [
        (1, "A: attempt 1 refused"),
        (2, "A: attempt 2 refused"),
        (3, "A: attempt 3 refused"),
    ]
    assert [r.attempt for r in of_type(history, "TaskRetryScheduled")] == [2, 3, 4]
    assert [s.attempt for s in of_type(history, "TaskStarted")] == [1, 2, 3, 4]
    assert tasks.calls.of("CloseInstance") == [("A", 1), ("A", 2), ("A", 3), ("A", 4)]
    assert manager.state("r1").end is End.COMPLETED
    assert clock() - start == timedelta(seconds=14)


def test_a_task_that_keeps_failing_fails_the_process(store: ProcessStore, clock: FakeClock) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(fail_first(99, only="B")))
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))

    for _ in range(4):
        worker.drain()
        clock.advance(minutes=1)

    state = manager.state("r1")
    assert (state.end, state.end_reason) == (End.FAILED, "Instance B is in Failed")
    assert dict(state.instances["Instance"]) == {"A": "Closed", "B": "Failed"}
    assert worker.stats.failed == 1 and worker.stats.retrying == 3
    assert names(manager.history("r1"))[-2:] == ["TransitionPlanned", "ProcessFailed"]


def test_an_attempt_whose_lease_expires_times_out_and_is_retried(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    # A worker starts attempt 1 and dies: TaskStarted is all it leaves.
    task = next(iter(manager.state("r1").tasks.values()))
    lease_until = clock() + timedelta(seconds=30)
    ghost_start = started_event(definition(m), task, "ghost", lease_until)
    manager.record("r1", ghost_start, started_id(task.task_id, 1))
    tasks = RebaseTasks()
    worker = Worker(definition(m), store, tasks)

    clock.advance(seconds=29)
    worker.drain()
    assert names(manager.history("r1"))[-1] == "TaskStarted"  # the lease still holds

    clock.advance(seconds=1)
    worker.drain()
    assert names(manager.history("r1"))[-2:] == ["TaskTimedOut", "TaskRetryScheduled"]
    clock.advance(seconds=2)
    worker.drain()

    assert tasks.calls.of("CloseInstance") == [("A", 2)]
    assert worker.stats.timed_out == 1
    assert manager.state("r1").end is End.COMPLETED


# ---- timers ----------------------------------------------------------------------------


def test_a_timer_fires_when_due_and_not_before(store: ProcessStore, clock: FakeClock) -> None:
    m = reminder()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, ReminderTasks())
    manager.handle(m.Opened(ticket_id="t1"))
    scheduled = of_type(manager.history("t1"), "TimerScheduled")
    assert [t.due_at for t in scheduled] == [clock() + timedelta(hours=1)]

    clock.advance(minutes=59, seconds=59)
    worker.drain()
    assert of_type(manager.history("t1"), "TimerFired") == []

    clock.advance(seconds=1)
    worker.drain()
    assert names(manager.history("t1"))[-2:] == ["TimerFired", "TransitionPlanned"]
    assert dict(manager.state("t1").instances["Ticket"]) == {"Ticket": "Reminded"}
    assert worker.stats.timers_fired == 1
    assert work_items(store, "RtReminder", "t1") == []


def test_leaving_the_state_cancels_its_timer(store: ProcessStore, clock: FakeClock) -> None:
    m = reminder()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, ReminderTasks())
    manager.handle(m.Opened(ticket_id="t1"))
    manager.handle(m.Answered(ticket_id="t1"))

    clock.advance(hours=2)
    worker.drain()

    assert of_type(manager.history("t1"), "TimerFired") == []
    assert work_items(store, "RtReminder", "t1") == []


def test_a_worker_leaves_the_work_of_other_processes_alone(
    store: ProcessStore, clock: FakeClock
) -> None:
    rebase, ticket = seed(), reminder()
    ProcessManager(definition(ticket), store).handle(ticket.Opened(ticket_id="t1"))
    clock.advance(hours=2)  # the ticket's timer is due

    handled = Worker(definition(rebase), store, RebaseTasks()).drain()

    assert handled == 0
    [timer] = work_items(store, "RtReminder", "t1")
    assert (timer.kind, timer.claimed_by) == ("timer", None)


# ---- cancellation, start and end ------------------------------------------------------


def test_cancelling_records_late_outcomes_and_starts_nothing_new(store: ProcessStore) -> None:
    m = order()
    tasks = OrderTasks()
    tasks.release = threading.Event()
    manager = ProcessManager(definition(m), store, tasks)
    worker = Worker(definition(m), store, tasks)
    manager.handle(m.Placed(order_id="o1", items=[]))
    running = threading.Thread(target=worker.drain)
    running.start()
    assert tasks.shipping.wait(5)

    cancelled = manager.handle(m.Withdrawn(order_id="o1"))
    tasks.release.set()
    running.join(5)

    assert names(cancelled.decisions) == ["ProcessCancelled"]
    history = manager.history("o1")
    # The attempt that was running reports back: recorded, and nothing follows.
    assert names(history)[-3:] == ["Withdrawn", "ProcessCancelled", "TaskCompleted"]
    state = manager.state("o1")
    assert state.end is End.CANCELLED
    assert dict(state.instances["Order"]) == {"Order": "Shipping"}
    assert work_items(store, "RtOrder", "o1") == []


def test_a_task_planned_before_the_cancel_is_never_started(store: ProcessStore) -> None:
    m = order()
    tasks = OrderTasks()
    manager = ProcessManager(definition(m), store, tasks)
    manager.handle(m.Placed(order_id="o1", items=[]))  # plans Ship for a worker

    manager.handle(m.Withdrawn(order_id="o1"))
    Worker(definition(m), store, tasks).drain()

    assert tasks.calls.of("Ship") == []
    started = {s.task_id for s in of_type(manager.history("o1"), "TaskStarted")}
    assert _ship_task(manager) not in started


def test_an_event_that_may_not_start_a_process_is_not_recorded(store: ProcessStore) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())

    result = manager.handle(m.Withdrawn(order_id="o9"))

    assert result.status is HandleStatus.NOT_STARTED
    assert not result.recorded
    assert manager.history("o9") == []
    assert store.stream_keys("RtOrder") == []


def test_events_after_the_end_are_reported_and_not_recorded(store: ProcessStore) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())
    manager.handle(m.Placed(order_id="o1", items=[]))
    manager.handle(m.Withdrawn(order_id="o1"))
    version = manager.state("o1").version

    result = manager.handle(m.Nudged(order_id="o1"))

    assert result.status is HandleStatus.AFTER_END
    assert manager.state("o1").version == version == len(manager.history("o1"))


def test_an_event_no_transition_accepts_is_recorded_as_ignored(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    # A is Closing now: `close` leaves only Working.
    result = manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    assert result.status is HandleStatus.IGNORED
    assert result.recorded and result.decisions == ()
    assert names(manager.history("r1"))[-1] == "RebaseFailed"


def test_a_handler_error_is_a_failed_attempt_and_the_worker_carries_on(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(fail_first(1, only="A")))
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))

    worker.drain()

    history = manager.history("r1")
    assert_well_formed(history)
    assert [f.reason for f in of_type(history, "TaskFailed")] == ["A: attempt 1 refused"]
    assert dict(manager.state("r1").instances["Instance"]) == {"A": "Closing", "B": "Closed"}


def _ship_task(manager: ProcessManager) -> object:
    planned = of_type(manager.history("o1"), "TransitionPlanned")
    return next(p.task_id for p in planned if p.task == "Ship")


def test_after_the_end_every_attempt_that_ran_reports_a_late_outcome(
    store: ProcessStore,
    clock: FakeClock,
) -> None:
    m = order()  # Ship: `retry 2 backoff 2s`, `timeout 30s`
    tasks = OrderTasks()
    manager = ProcessManager(definition(m), store, tasks)
    manager.handle(m.Placed(order_id="o1", items=[]))
    ship = manager.state("o1").tasks[_ship_task(manager)]  # type: ignore[index]
    # Attempt 1 starts on a worker that dies; it times out; attempt 2 starts.
    manager.record(
        "o1", started_event(definition(m), ship, "ghost", clock()), started_id(ship.task_id, 1)
    )
    clock.advance(seconds=1)
    Worker(definition(m), store, tasks).drain()
    clock.advance(seconds=2)
    second = manager.state("o1").tasks[ship.task_id]
    assert second.attempt == 2
    manager.record(
        "o1", started_event(definition(m), second, "ghost", clock()), started_id(ship.task_id, 2)
    )
    manager.handle(m.Withdrawn(order_id="o1"))
    never_started = replace(second, attempt=3)

    superseded = manager.record(
        "o1", completed_event(definition(m), ship, None), outcome_id(ship.task_id, 1)
    )
    running = manager.record(
        "o1", completed_event(definition(m), second, None), outcome_id(ship.task_id, 2)
    )
    again = manager.record(
        "o1", completed_event(definition(m), second, None), outcome_id(ship.task_id, 2)
    )
    phantom = manager.record(
        "o1", completed_event(definition(m), never_started, None), outcome_id(ship.task_id, 3)
    )

    # Both attempts ran (the timed-out one too): their outcomes are facts.
    assert (superseded.status, running.status) == (HandleStatus.LATE, HandleStatus.LATE)
    assert again.status is HandleStatus.DEDUPLICATED  # an identical outcome is kept once
    assert phantom.status is HandleStatus.AFTER_END  # attempt 3 never ran
    assert names(manager.history("o1"))[-4:] == [
        "Withdrawn",
        "ProcessCancelled",
        "TaskCompleted",
        "TaskCompleted",
    ]
    assert manager.replay("o1") == manager.state("o1")


def test_a_superseded_attempt_records_its_outcome_late_and_changes_nothing(
    store: ProcessStore, clock: FakeClock
) -> None:
    """At most one TaskCompleted per task changes state; later ones are late outcomes."""
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    task_a = next(t for t in manager.state("r1").tasks.values() if t.machine_id == "A")
    first = manager.record(
        "r1", completed_event(definition(m), task_a, None), outcome_id(task_a.task_id, 1)
    )
    settled = manager.state("r1")
    late = manager.record(
        "r1",
        completed_event(definition(m), replace(task_a, attempt=2), None),
        outcome_id(task_a.task_id, 2),
    )
    assert (first.status, late.status) == (HandleStatus.RECORDED, HandleStatus.LATE)
    assert late.decisions == ()
    state = manager.state("r1")
    assert (state.instances, state.tasks, state.end) == (settled.instances, settled.tasks, None)
    completions = of_type(manager.history("r1"), "TaskCompleted")
    assert [c.attempt for c in completions] == [1, 2]


def test_a_work_row_judged_on_an_old_state_is_left_alone(
    store: ProcessStore, clock: FakeClock
) -> None:
    """A worker that judged "not yet" must not undo what a newer decision scheduled."""
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    judged = manager.state("r1").version
    [row] = work_items(store, definition(m).category, "r1")
    task = next(iter(manager.state("r1").tasks.values()))
    manager.record(
        "r1", started_event(definition(m), task, "w", clock()), started_id(task.task_id, 1)
    )
    rescheduled = [(r.work_id, r.due_at) for r in work_items(store, definition(m).category, "r1")]

    moved = set_work(store, row, clock() + timedelta(minutes=5), judged_at=judged)

    assert moved is False
    after = [(r.work_id, r.due_at) for r in work_items(store, definition(m).category, "r1")]
    assert after == rescheduled
