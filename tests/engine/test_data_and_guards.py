"""The second edition's data rules (SPEC §6): guards, `set`, `keep`, `at`, data conditions.

Run on ``ed2_dunning``, a module written by hand as pmc generates it (its
docstring has the `.pm` source). Every step also checks that `decide`'s
state is the fold of the recorded stream (``CheckedScenario``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

import pmc.runtime as rt
from pmc.runtime import End
from tests.codegen.support import compile_and_import
from tests.engine import ed2_dunning as m
from tests.engine.ed2_scenario import CheckedScenario
from tests.engine.processes import APPROVAL
from tests.engine.scenario import T0

LATER = datetime(2026, 1, 3, 9, 30, tzinfo=UTC)


def opened(retry_at: datetime | None = None) -> m.Opened:
    return m.Opened(invoice_id="r1", retry_at=retry_at)


def charging(retry_at: datetime | None = None) -> tuple[CheckedScenario, Any]:
    """The invoice opened: its first charge planned."""
    s = CheckedScenario(m).given(opened(retry_at))
    return s, s.planned("Billing", "charge")


def charged(s: CheckedScenario, task: Any, code: str, retry_at: datetime | None = None) -> Any:
    return s.completed(task, {"code": code, "retry_at": retry_at})


def taken(decisions: list[Any]) -> list[str]:
    return [d.transition for d in decisions if isinstance(d, m.TransitionPlanned)]


# ---- guards --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "transition", "state"),
    [
        # `hard` makes both guards hold: the first in source order wins.
        ("hard", "declined", "Failed"),
        ("soft", "soft", "Waiting"),
        # Neither guard holds: the unguarded transition, written last, is taken.
        ("ok", "ok", "Paid"),
    ],
)
def test_the_first_transition_whose_guard_holds_is_taken(
    code: str, transition: str, state: str
) -> None:
    s, task = charging()

    decisions = s.when(charged(s, task, code))

    assert taken(decisions) == [transition]
    assert s.state.of("Billing") == state


def test_an_event_every_guard_turns_away_is_ignored() -> None:
    s, _ = charging()
    before = s.state

    assert s.when(m.Paid(invoice_id="r1", paid_invoice="another")) == []
    assert (s.state.of("Billing"), s.state.data) == (before.of("Billing"), before.data)


def test_a_guard_reads_the_event_and_the_key() -> None:
    s, _ = charging()

    decisions = s.when(m.Paid(invoice_id="r1", paid_invoice="r1"))

    assert taken(decisions) == ["paid"]
    assert s.state.end is End.COMPLETED


def test_a_star_row_may_hold_guarded_transitions_too() -> None:
    def first_is_a(scope: rt.Scope[Any, Any, Any]) -> bool:
        return bool(scope.data.first == "a")

    class Starred(m.EdDunning):
        # `*` on Swap: a guarded swap that stays, else drop. Waiting keeps its own row.
        wildcard_transitions: ClassVar[rt.WildcardTable] = {
            ("Billing", "Swap"): (
                rt.TransitionSpec(
                    name="swap",
                    target=m.BillingState.Charging,
                    guard=first_is_a,
                    assign=m._set_swap,
                ),
                rt.TransitionSpec(name="drop", target=m.BillingState.Failed),
            )
        }

    s, _ = charging()
    s.definition = Starred()

    assert taken(s.when(m.Swap(invoice_id="r1"))) == ["swap"]  # first == "a": swapped
    assert taken(s.when(m.Swap(invoice_id="r1"))) == ["drop"]  # first == "b" now
    assert s.state.of("Billing") == "Failed"


# ---- set -----------------------------------------------------------------------------


def test_set_records_the_values_as_json_and_the_state_has_them_typed() -> None:
    s = CheckedScenario(m)

    (planned, *_) = s.when(opened(LATER))

    # Only the assigned fields, as JSON; the task input read the same
    # values from before the transition (attempt 1).
    assert planned.data_set == {"attempts": 1, "retry_at": "2026-01-03T09:30:00Z"}
    assert planned.instance_set is None
    assert planned.task_input == {"invoice_id": "r1", "attempt": 1}
    assert isinstance(s.state.data, m.EdDunningData)
    assert s.state.data == m.EdDunningData(attempts=1, retry_at=LATER)


def test_a_transition_without_set_records_nothing_and_keeps_the_data() -> None:
    s, task = charging()
    before = s.state.data

    (planned, *_) = s.when(charged(s, task, "hard"))

    assert (planned.data_set, planned.instance_set) == (None, None)
    assert s.state.data == before


def test_assignments_of_one_set_are_simultaneous() -> None:
    s, task = charging()
    s.given(charged(s, task, "soft"))

    (planned,) = s.when(m.Swap(invoice_id="r1"))

    assert planned.data_set == {"first": "b", "second": "a"}
    assert (s.state.data.first, s.state.data.second) == ("b", "a")


def test_evolve_applies_the_recorded_values_and_never_calls_assign_again() -> None:
    s, task = charging()
    s.given(charged(s, task, "soft"), m.Swap(invoice_id="r1"))

    def assign_now(scope: rt.Scope[Any, Any, Any]) -> rt.Assignments:
        return rt.Assignments(data={"first": "changed", "second": "since"})

    class Changed(m.EdDunning):
        transitions: ClassVar[rt.TransitionTable] = {
            **m.EdDunning.transitions,
            ("Billing", m.BillingState.Waiting, "Swap"): rt.TransitionSpec(
                name="swap", target=m.BillingState.Waiting, assign=assign_now
            ),
        }

    replayed = Changed().fold(s.stream)

    assert (replayed.data.first, replayed.data.second) == ("b", "a")
    assert replayed == s.state


# ---- keep ----------------------------------------------------------------------------


def test_a_kept_task_stays_in_flight_and_its_outcome_is_handled_in_the_new_state() -> None:
    s, task = charging()

    (hold,) = s.when(m.Hold(invoice_id="r1"))

    assert hold.kept_tasks == [task.task_id]
    assert list(s.state.tasks) == [task.task_id]
    decisions = s.when(charged(s, task, "ok"))
    assert taken(decisions) == ["released"]
    assert s.state.end is End.COMPLETED


def test_a_task_not_kept_is_dropped_and_its_outcome_is_late() -> None:
    s, task = charging()

    (drop,) = s.when(m.Drop(invoice_id="r1"))

    assert drop.kept_tasks is None
    assert dict(s.state.tasks) == {}
    before = s.state
    assert s.when(charged(s, task, "ok")) == []
    assert (s.state.of("Billing"), s.state.data) == (before.of("Billing"), before.data)


# ---- at deadlines --------------------------------------------------------------------


def test_no_deadline_value_schedules_no_timer() -> None:
    s, task = charging()

    decisions = s.when(charged(s, task, "soft", retry_at=None))

    assert taken(decisions) == ["soft"]
    assert s.of_type("TimerScheduled") == []


def test_a_deadline_is_read_after_the_entering_transitions_set() -> None:
    # Opened set no retry time; the result that moved the invoice to Waiting did.
    s, task = charging(retry_at=None)

    decisions = s.when(charged(s, task, "soft", retry_at=LATER))

    (timer,) = s.of_type("TimerScheduled", decisions)
    assert (timer.transition, timer.due_at) == ("retry", LATER)


def test_a_naive_deadline_is_taken_as_utc() -> None:
    s, task = charging()

    decisions = s.when(charged(s, task, "soft", retry_at=LATER.replace(tzinfo=None)))

    (timer,) = s.of_type("TimerScheduled", decisions)
    assert timer.due_at == LATER


def test_a_fired_deadline_takes_its_transition() -> None:
    s, task = charging()
    (timer,) = s.of_type("TimerScheduled", s.when(charged(s, task, "soft", retry_at=LATER)))
    s.advance(days=2)

    decisions = s.fired(timer)

    assert taken(decisions) == ["retry"]
    assert decisions[0].task_input == {"invoice_id": "r1", "attempt": 2}
    assert s.state.data.attempts == 2


def _set_a_day_later(s: rt.Scope[Any, m.EdDunningData, rt.NoData]) -> rt.Assignments:
    assert s.data.retry_at is not None
    return rt.Assignments(data={"retry_at": s.data.retry_at + timedelta(days=1)})


def waiting_on_itself(assign: rt.Assign | None) -> rt.ProcessDefinition:
    """EdDunning edited: `retry: Waiting -> Waiting on at data.retry_at`, setting
    what ``assign`` sets, and `swap` postpones the retry by a day."""

    class Edited(m.EdDunning):
        transitions: ClassVar[rt.TransitionTable] = {
            **m.EdDunning.transitions,
            ("Billing", m.BillingState.Waiting, "after:retry"): rt.TransitionSpec(
                name="retry", target=m.BillingState.Waiting, assign=assign
            ),
            ("Billing", m.BillingState.Waiting, "Swap"): rt.TransitionSpec(
                name="swap", target=m.BillingState.Waiting, assign=_set_a_day_later
            ),
        }

    return Edited()


def waiting_until(assign: rt.Assign | None) -> tuple[CheckedScenario, Any]:
    """The invoice waiting for its retry at LATER, on the edited module; its timer."""
    s, task = charging()
    s.definition = waiting_on_itself(assign)
    (timer,) = s.of_type("TimerScheduled", s.when(charged(s, task, "soft", retry_at=LATER)))
    return s, timer


def test_an_at_deadline_re_entering_its_state_on_the_same_instant_is_not_scheduled_again() -> None:
    # Scheduled again, it would fire at once, for ever.
    s, timer = waiting_until(None)
    s.advance(days=2)

    decisions = s.fired(timer)

    assert taken(decisions) == ["retry"]
    assert s.of_type("TimerScheduled", decisions) == []
    assert s.state.timers == {}


def test_an_at_deadline_re_entering_its_state_is_scheduled_again_for_a_later_instant() -> None:
    s, timer = waiting_until(_set_a_day_later)
    s.advance(days=2)

    decisions = s.fired(timer)

    (again,) = s.of_type("TimerScheduled", decisions)
    assert (again.transition, again.due_at) == ("retry", LATER + timedelta(days=1))


def test_changing_the_deadline_while_staying_in_the_state_does_not_move_its_timer() -> None:
    s, _ = waiting_until(None)

    decisions = s.when(m.Swap(invoice_id="r1"))

    assert s.state.data.retry_at == LATER + timedelta(days=1)
    assert s.of_type("TimerScheduled", decisions) == []
    assert [t.due_at for t in s.state.timers.values()] == [LATER]


# ---- data conditions -----------------------------------------------------------------


def test_a_data_condition_in_fail_when_fails_the_process_saying_what_held() -> None:
    s, task = charging()
    for _ in range(2):
        (timer,) = s.of_type("TimerScheduled", s.when(charged(s, task, "soft", retry_at=T0)))
        s.fired(timer)
        task = s.planned("Billing", "retry")

    assert s.state.data.attempts == 3
    assert s.state.end is End.FAILED
    assert s.state.end_reason == "data.attempts >= 3 holds"


def test_a_data_condition_alone_completes_the_process_when_it_holds() -> None:
    s, task = charging()

    decisions = s.when(charged(s, task, "ok"))

    assert [type(d).__name__ for d in decisions] == ["TransitionPlanned", "ProcessCompleted"]


def test_complete_when_needs_every_condition_data_and_machines() -> None:
    class AlsoFailed(m.EdDunning):
        complete_when = (*m.EdDunning.complete_when, rt.AllIn("Billing", ("Failed",)))

    definition = AlsoFailed()
    s, task = charging()
    s.definition = definition

    s.when(charged(s, task, "ok"))

    # data.paid holds, but Billing is in Paid, not Failed.
    assert s.state.data.paid
    assert s.state.end is None


# ---- the records in the state ----------------------------------------------------------


def test_the_initial_state_has_the_declared_defaults() -> None:
    state = m.DEFINITION.initial_state()

    assert state.data == m.EdDunningData()
    # Billing declares no data: its one instance has the empty record.
    assert dict(state.instance_data) == {"Billing": {"Billing": rt.NoData()}}


def test_a_module_without_data_has_empty_records() -> None:
    approval = compile_and_import(APPROVAL)  # an API 2 module

    s = CheckedScenario(approval).given(approval.Requested(doc_id="d1"))

    assert s.state.data == rt.NoData()
    assert dict(s.state.instance_data) == {"Review": {"Review": rt.NoData()}}
