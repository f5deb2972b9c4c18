"""decide/evolve, rule by rule, on generated code (given events, when one more, then these)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from pmc.runtime import End, HandleStatus, ProcessManager, TaskStatus
from pmc.runtime.definition import MAX_DELAY_MS, RetrySpec
from pmc.runtime.stores import open_store
from pmc.syntax.builder import MAX_DURATION_MS
from tests.codegen.support import compile_and_import
from tests.engine.processes import APPROVAL, DEEP, JOBS, TICKETS
from tests.engine.scenario import Scenario, summary


@pytest.fixture(scope="module")
def jobs() -> ModuleType:
    return compile_and_import(JOBS)


@pytest.fixture(scope="module")
def approval() -> ModuleType:
    return compile_and_import(APPROVAL)


@pytest.fixture(scope="module")
def tickets() -> ModuleType:
    return compile_and_import(TICKETS)


def submitted(jobs: ModuleType, *parts: int) -> Any:
    return jobs.Submitted(job_id="r1", parts=list(parts))


def running(jobs: ModuleType, machine: str = "B") -> tuple[Scenario, Any]:
    """Part 1 submitted; the task of ``machine`` for it."""
    s = Scenario(jobs).given(submitted(jobs, 1))
    (planned,) = [e for e in s.of_type("TransitionPlanned") if e.machine == machine]
    return s, planned


# ---- fan-out and bindings ----------------------------------------------------------


def test_fan_out_reaches_every_machine_routed_on_the_event(jobs: ModuleType) -> None:
    s = Scenario(jobs)

    decisions = s.when(submitted(jobs, 1, 2))

    assert [(d.machine, d.machine_id, d.task) for d in decisions] == [
        ("B", "1", "Backoff"),
        ("B", "2", "Backoff"),
        ("E", "1", "Every"),
        ("E", "2", "Every"),
        ("O", "1", "Once"),
        ("O", "2", "Once"),
    ]
    assert [d.task_input for d in decisions[:2]] == [{"part": "1"}, {"part": "2"}]


def test_a_known_instance_is_not_started_again(jobs: ModuleType) -> None:
    s = Scenario(jobs).given(submitted(jobs, 1))

    decisions = s.when(submitted(jobs, 1, 2))

    assert {d.machine_id for d in decisions} == {"2"}


def test_an_event_no_transition_accepts_is_ignored(approval: ModuleType) -> None:
    # Review is Waiting; no transition leaves Waiting on Requested.
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    before = s.state

    decisions = s.when(approval.Requested(doc_id="r1"))

    assert decisions == []
    assert replace(s.state, version=before.version) == before  # recorded, nothing else
    assert s.state.version == before.version + 1


def test_typed_task_input_is_rebuilt_from_the_state(jobs: ModuleType) -> None:
    s, planned = running(jobs)

    task = s.state.tasks[planned.task_id]

    assert s.definition.task_input(task) == jobs.Backoff(part="1")


def test_a_handlers_result_is_validated_into_the_outcome_payload(approval: ModuleType) -> None:
    definition = approval.DEFINITION

    assert definition.task_result("Remind", approval.RemindResult(sent_to="ann")) == {
        "sent_to": "ann"
    }
    assert definition.task_result("Archive", None) is None
    with pytest.raises(ValidationError):
        definition.task_result("Remind", {"sent_to": 3})


# ---- outcomes ---------------------------------------------------------------------------


def test_a_completed_task_takes_the_completed_transition(jobs: ModuleType) -> None:
    s, planned = running(jobs)

    decisions = s.when(s.completed(planned))

    assert summary(decisions) == [("TransitionPlanned", "1", "Running->Done", None)]
    assert planned.task_id not in s.state.tasks


def test_a_duplicate_outcome_changes_nothing(jobs: ModuleType) -> None:
    s, planned = running(jobs)
    s.given(s.completed(planned))
    state = s.state

    assert s.when(s.completed(planned)) == []
    assert s.when(s.failed(planned)) == []
    assert s.state.instances == state.instances and s.state.tasks == state.tasks


def test_an_outcome_for_an_unknown_task_changes_nothing(jobs: ModuleType) -> None:
    s, planned = running(jobs)
    stranger = planned.model_copy(update={"task_id": uuid.UUID(int=1)})

    assert s.when(s.completed(stranger)) == []
    assert s.when(s.failed(stranger)) == []
    assert s.when(s.timed_out(stranger)) == []


def test_a_started_attempt_is_running(jobs: ModuleType) -> None:
    s, planned = running(jobs)

    assert s.when(s.started(planned)) == []
    task = s.state.tasks[planned.task_id]
    assert (task.status, task.worker, task.attempt) == (TaskStatus.RUNNING, "w1", 1)


# ---- retries -----------------------------------------------------------------------------


def retry_delays(s: Scenario, planned: Any, attempts: int) -> list[timedelta]:
    delays = []
    for attempt in range(1, attempts + 1):
        s.advance(minutes=1)
        (retry,) = s.when(s.failed(planned, attempt=attempt))
        assert (type(retry).__name__, retry.attempt) == ("TaskRetryScheduled", attempt + 1)
        delays.append(retry.not_before - s.now)
    return delays


def test_backoff_doubles_from_its_delay_up_to_the_max(jobs: ModuleType) -> None:
    s, planned = running(jobs, "B")  # retry 4 backoff 1s max 5s

    assert retry_delays(s, planned, 4) == [timedelta(seconds=n) for n in (1, 2, 4, 5)]


def test_every_waits_the_same_delay(jobs: ModuleType) -> None:
    s, planned = running(jobs, "E")  # retry 2 every 3s

    assert retry_delays(s, planned, 2) == [timedelta(seconds=3)] * 2


def test_when_retries_run_out_the_failed_transition_is_taken(jobs: ModuleType) -> None:
    s, planned = running(jobs, "E")
    retry_delays(s, planned, 2)

    decisions = s.when(s.failed(planned, attempt=3, reason="disk full"))

    assert summary(decisions) == [("TransitionPlanned", "1", "Running->Broken", None)]
    assert planned.task_id not in s.state.tasks


def test_without_retry_the_first_failure_is_final(jobs: ModuleType) -> None:
    s, planned = running(jobs, "O")

    decisions = s.when(s.failed(planned))

    assert summary(decisions) == [("TransitionPlanned", "1", "Running->Broken", None)]


def test_a_failure_of_an_earlier_attempt_changes_nothing(jobs: ModuleType) -> None:
    s, planned = running(jobs, "B")
    s.given(s.failed(planned, attempt=1))

    assert s.when(s.failed(planned, attempt=1)) == []
    assert s.when(s.timed_out(planned, attempt=1)) == []
    assert s.state.tasks[planned.task_id].attempt == 2


def test_a_late_success_of_an_earlier_attempt_still_completes_the_task(jobs: ModuleType) -> None:
    # At-least-once: attempt 1 timed out, but it did the work after all.
    s, planned = running(jobs, "B")
    s.given(s.timed_out(planned, attempt=1))

    decisions = s.when(s.completed(planned, attempt=1))

    assert summary(decisions) == [("TransitionPlanned", "1", "Running->Done", None)]


def test_backoff_without_max_is_capped_at_a_hundred_years() -> None:
    spec = RetrySpec(retries=200, delay="backoff", delay_ms=3_600_000)

    delays = [spec.delay_after(attempt) for attempt in range(1, 201)]

    assert delays[:3] == [timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]
    assert delays == sorted(delays)
    assert delays[-1] == timedelta(milliseconds=MAX_DELAY_MS) == timedelta(days=36_500)
    assert MAX_DELAY_MS == MAX_DURATION_MS  # the longest duration a .pm file may write


def test_deep_retries_never_overflow_in_decide() -> None:
    deep = compile_and_import(DEEP)
    s = Scenario(deep).given(deep.Go(id="r1"))
    poll = s.planned("M", "go")

    retries = [s.when(s.failed(poll, attempt=attempt))[0] for attempt in range(1, 201)]

    assert [r.attempt for r in retries] == list(range(2, 202))
    assert max(r.not_before - s.now for r in retries) == timedelta(days=36_500)
    assert summary(s.when(s.failed(poll, attempt=201)))[0][2] == "Polling->Done"


def test_times_past_year_9999_are_clamped_to_the_last_representable_one() -> None:
    deep = compile_and_import(DEEP)
    s = Scenario(deep)
    s.now = datetime(9999, 6, 1, tzinfo=UTC)
    last = datetime.max.replace(tzinfo=UTC)

    (_, timer) = s.when(deep.Go(id="r1"))
    (retry,) = s.when(s.failed(s.planned("M", "go")))

    assert (timer.due_at, retry.not_before) == (last, s.now + timedelta(hours=1))
    for attempt in range(2, 30):
        (retry,) = s.when(s.failed(s.planned("M", "go"), attempt=attempt))
    assert retry.not_before == last


def test_a_retry_can_start_at_not_before(jobs: ModuleType) -> None:
    s, planned = running(jobs, "B")
    (retry,) = s.when(s.failed(planned))

    task = s.state.tasks[planned.task_id]

    assert (task.status, task.attempt, task.not_before) == (
        TaskStatus.RETRY_SCHEDULED,
        2,
        retry.not_before,
    )


# ---- timeouts ------------------------------------------------------------------------------


def test_a_timed_out_attempt_counts_as_a_failed_one(jobs: ModuleType) -> None:
    s, planned = running(jobs, "O")

    decisions = s.when(s.timed_out(planned))

    assert summary(decisions) == [("TransitionPlanned", "1", "Running->Broken", None)]


def test_a_timed_out_attempt_is_retried(jobs: ModuleType) -> None:
    s, planned = running(jobs, "B")

    (retry,) = s.when(s.timed_out(planned))

    assert (retry.attempt, retry.not_before) == (2, s.now + timedelta(seconds=1))


def test_the_timeout_reaches_the_failed_transitions_reason(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    s.advance(hours=1)
    s.given(approval.TimerFired(timer_id=s.of_type("TimerScheduled")[0].timer_id))
    remind = s.planned("Review", "remind")

    (planned, *_) = s.when(s.timed_out(remind))

    assert planned.transition == "not_reminded"
    assert planned.task_input == {"doc_id": "r1", "note": "attempt 1 timed out"}


# ---- timers -----------------------------------------------------------------------------------


def test_starting_the_process_schedules_the_initial_states_timer(approval: ModuleType) -> None:
    s = Scenario(approval)

    decisions = s.when(approval.Requested(doc_id="r1"))

    assert summary(decisions) == [("TimerScheduled", "Review", "remind", timedelta(hours=1))]


def test_a_fired_timer_takes_its_transition(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    (timer,) = s.of_type("TimerScheduled")
    s.advance(hours=1)

    decisions = s.when(approval.TimerFired(timer_id=timer.timer_id))

    assert summary(decisions) == [("TransitionPlanned", "Review", "Waiting->Reminding", "Remind")]
    assert decisions[0].task_mode == "sync"
    assert s.state.timers == {}


def test_a_timer_fired_after_its_state_was_left_changes_nothing(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    (timer,) = s.of_type("TimerScheduled")
    s.given(approval.Approved(doc_id="r1"))

    assert s.when(approval.TimerFired(timer_id=timer.timer_id)) == []


def test_entering_a_state_with_a_timer_schedules_it_from_the_events_time(
    approval: ModuleType,
) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    s.advance(hours=1)
    s.given(approval.TimerFired(timer_id=s.of_type("TimerScheduled")[0].timer_id))
    s.advance(minutes=5)

    decisions = s.when(s.completed(s.planned("Review", "remind"), {"sent_to": "ann"}))

    assert summary(decisions) == [
        ("TransitionPlanned", "Review", "Reminding->Reminded", "Archive"),
        ("TimerScheduled", "Review", "expire", timedelta(days=1, hours=1, minutes=5)),
    ]
    # The result's fields bind like an event's.
    assert decisions[0].task_input == {"doc_id": "r1", "note": "ann"}


def test_a_self_loop_keeps_its_states_timer(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    s.given(approval.TimerFired(timer_id=s.of_type("TimerScheduled")[0].timer_id))
    s.given(s.completed(s.planned("Review", "remind"), {"sent_to": "ann"}))
    expire = s.of_type("TimerScheduled")[-1]

    decisions = s.when(s.completed(s.planned("Review", "reminded")))

    assert summary(decisions) == [("TransitionPlanned", "Review", "Reminded->Reminded", None)]
    assert list(s.state.timers) == [expire.timer_id]
    assert summary(s.when(approval.TimerFired(timer_id=expire.timer_id))) == [
        ("TransitionPlanned", "Review", "Reminded->Expired", None),
        ("ProcessCompleted",),
    ]


def test_an_invalid_result_takes_the_failed_transition(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    s.given(approval.TimerFired(timer_id=s.of_type("TimerScheduled")[0].timer_id))

    (planned, *_) = s.when(s.completed(s.planned("Review", "remind"), {"wrong": 1}))

    assert planned.transition == "not_reminded"
    assert planned.task_input["note"].startswith("invalid result")


# ---- start, cancel, end ------------------------------------------------------------------------


def test_decide_starts_a_process_only_on_a_start_event(approval: ModuleType) -> None:
    # `start on Requested`: Approved would take Waiting -> Accepted, and
    # Withdrawn would cancel, but neither may create the process.
    s = Scenario(approval)
    empty = s.definition.initial_state()

    assert s.definition.decide(empty, approval.Approved(doc_id="r1"), s.meta()) == []
    assert s.definition.decide(empty, approval.Withdrawn(doc_id="r1"), s.meta()) == []

    s.given(approval.Requested(doc_id="r1"))

    assert summary(s.when(approval.Approved(doc_id="r1"))) == [
        ("TransitionPlanned", "Review", "Waiting->Accepted", None),
        ("ProcessCompleted",),
    ]


def test_the_runtime_refuses_to_start_on_other_events_and_accepts_them_after() -> None:
    # A process name of its own: event-sourcery's registry keeps the first
    # class per stored name, and the store looks classes up there.
    approval = compile_and_import(APPROVAL.replace("process Approval", "process StartOnly"))
    manager = ProcessManager(approval.DEFINITION, open_store("memory://"))

    refused = manager.handle(approval.Approved(doc_id="d1"))

    assert refused.status is HandleStatus.NOT_STARTED
    assert manager.history("d1") == []
    assert manager.handle(approval.Requested(doc_id="d1")).status is HandleStatus.RECORDED
    accepted = manager.handle(approval.Approved(doc_id="d1"))
    assert accepted.status is HandleStatus.RECORDED
    assert accepted.state.end is End.COMPLETED


def test_start_on_names_the_events_that_may_create_an_instance(approval: ModuleType) -> None:
    definition = approval.DEFINITION

    assert definition.can_start(approval.Requested(doc_id="r1"))
    assert not definition.can_start(approval.Approved(doc_id="r1"))
    assert not definition.can_start(approval.Withdrawn(doc_id="r1"))


def test_without_start_on_any_trigger_event_may_start(jobs: ModuleType) -> None:
    assert jobs.DEFINITION.can_start(submitted(jobs, 1))
    assert jobs.DEFINITION.key_of(submitted(jobs, 1)) == "r1"


def test_cancel_ends_the_process_and_late_outcomes_change_nothing(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    s.given(approval.TimerFired(timer_id=s.of_type("TimerScheduled")[0].timer_id))
    remind = s.planned("Review", "remind")

    decisions = s.when(approval.Withdrawn(doc_id="r1"))

    assert summary(decisions) == [("ProcessCancelled", "cancelled by Withdrawn")]
    assert s.state.end is End.CANCELLED
    assert s.when(s.completed(remind, {"sent_to": "ann"})) == []
    assert s.when(approval.Approved(doc_id="r1")) == []


def test_an_ignored_first_event_leaves_the_process_open(tickets: ModuleType) -> None:
    # No Ticket instance exists yet: "all Ticket final" (the default
    # completion) does not hold for none at all.
    s = Scenario(tickets)

    assert s.when(tickets.Closed(board="r1", id="A")) == []
    assert s.state.started and not s.state.ended
    assert s.state.instances["Ticket"] == {}

    opened = s.when(tickets.Opened(board="r1", ids=["A"]))
    closed = s.when(tickets.Closed(board="r1", id="A"))

    assert summary(opened) == [("TransitionPlanned", "A", "New->Open", None)]
    assert summary(closed) == [
        ("TransitionPlanned", "A", "Open->Done", None),
        ("ProcessCompleted",),
    ]


def test_completion_needs_every_instance_final_not_just_some(tickets: ModuleType) -> None:
    s = Scenario(tickets).given(tickets.Opened(board="r1", ids=["A", "B"]))

    assert summary(s.when(tickets.Closed(board="r1", id="A"))) == [
        ("TransitionPlanned", "A", "Open->Done", None)
    ]
    assert summary(s.when(tickets.Closed(board="r1", id="B")))[-1] == ("ProcessCompleted",)


def test_completion_is_recorded_once(approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    s.given(approval.Approved(doc_id="r1"))

    assert s.when(approval.Approved(doc_id="r1")) == []
    assert len(s.of_type("ProcessCompleted")) == 1


def test_events_of_another_process_change_nothing(jobs: ModuleType, approval: ModuleType) -> None:
    s = Scenario(approval).given(approval.Requested(doc_id="r1"))
    (timer,) = s.of_type("TimerScheduled")
    state = s.state

    assert s.when(submitted(jobs, 1)) == []
    assert s.when(jobs.TimerFired(timer_id=timer.timer_id)) == []
    assert s.state.timers == state.timers
