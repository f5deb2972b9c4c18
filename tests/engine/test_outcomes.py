"""When a task outcome changes state, and when it is a late outcome that changes nothing.

A late outcome (the instance left the state while the task ran, the task
already settled, the process ended) is recorded by the runtime; ``decide``
plans nothing on it and ``evolve`` folds it to the same state, so replay
agrees. A permanent failure (``PermanentFailure`` in a handler) fails the task
without its remaining retries.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from pmc.runtime import End
from pmc.runtime.engine import outcome_changes_state
from tests.codegen.support import compile_and_import
from tests.engine.scenario import Scenario, summary

# The customer may pay by transfer while the card is being charged.
CHECKOUT = """
process Checkout {
    key order_id
    event Ordered { order_id: str }
    event PaidByTransfer { order_id: str }
    event Shipped { order_id: str }
    event Withdrawn { order_id: str }
    task Charge { order_id: str  retry 3 every 1s }
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
    cancel on Withdrawn
}
"""


@pytest.fixture(scope="module")
def checkout() -> ModuleType:
    return compile_and_import(CHECKOUT)


def charging(m: ModuleType) -> tuple[Scenario, object]:
    s = Scenario(m).given(m.Ordered(order_id="r1"))
    return s, s.planned("Payment", "charge")


def assert_replays(s: Scenario) -> None:
    assert s.definition.fold(s.stream) == s.state


def test_a_completion_after_the_instance_left_the_state_changes_nothing(
    checkout: ModuleType,
) -> None:
    s, charge = charging(checkout)
    s.given(checkout.PaidByTransfer(order_id="r1"))
    before = s.state
    completed = s.completed(charge)

    assert not outcome_changes_state(before, completed)
    assert s.when(completed) == []
    assert s.state.instances == before.instances
    assert s.state.tasks == before.tasks
    assert s.state.version == before.version + 1
    assert_replays(s)


def test_a_failure_after_the_instance_left_the_state_changes_nothing(
    checkout: ModuleType,
) -> None:
    s, charge = charging(checkout)
    s.given(checkout.PaidByTransfer(order_id="r1"))
    before = s.state

    assert s.when(s.failed(charge, reason="card declined")) == []
    assert s.state.instances == before.instances and s.state.tasks == before.tasks
    assert_replays(s)


def test_outcomes_after_the_end_change_nothing_even_in_the_fold(checkout: ModuleType) -> None:
    s, charge = charging(checkout)
    s.given(checkout.Withdrawn(order_id="r1"))
    before = s.state
    completed = s.completed(charge)

    assert not outcome_changes_state(before, completed)
    assert s.when(completed) == []
    # The task stays as it was when the process ended: the end froze the state.
    assert (s.state.end, s.state.tasks, s.state.instances) == (
        End.CANCELLED,
        before.tasks,
        before.instances,
    )
    assert_replays(s)


def test_the_outcome_of_the_task_in_flight_changes_state(checkout: ModuleType) -> None:
    s, charge = charging(checkout)
    completed = s.completed(charge)

    assert outcome_changes_state(s.state, completed)
    assert summary(s.when(completed)) == [("TransitionPlanned", "Payment", "Charging->Paid", None)]


# ---- permanent failures -------------------------------------------------------------------


def test_a_permanent_failure_takes_the_failed_transition_without_retries(
    checkout: ModuleType,
) -> None:
    s, charge = charging(checkout)  # Charge: `retry 3 every 1s`
    failed = s.failed(charge, reason="hard decline").model_copy(update={"permanent": True})

    decisions = s.when(failed)

    assert summary(decisions) == [
        ("TransitionPlanned", "Payment", "Charging->Declined", None),
        ("ProcessCompleted",),
    ]
    assert s.state.tasks == {}
    assert_replays(s)


def test_a_permanent_failure_on_a_retry_fails_the_task_at_once(checkout: ModuleType) -> None:
    s, charge = charging(checkout)
    s.given(s.failed(charge, attempt=1))  # a retry is scheduled: attempt 2
    failed = s.failed(charge, attempt=2, reason="hard decline").model_copy(
        update={"permanent": True}
    )

    decisions = s.when(failed)

    assert summary(decisions)[0] == ("TransitionPlanned", "Payment", "Charging->Declined", None)
    assert_replays(s)


def test_the_failed_transition_sees_the_permanent_reason(checkout: ModuleType) -> None:
    s, charge = charging(checkout)
    failed = s.failed(charge, reason="hard decline").model_copy(update={"permanent": True})

    s.when(failed)

    assert s.state.end is End.COMPLETED  # Declined is final
    assert s.stream[-3].reason == "hard decline" and s.stream[-3].permanent is True


def test_a_task_failed_recorded_before_permanent_existed_still_loads(
    checkout: ModuleType,
) -> None:
    s, charge = charging(checkout)
    old = s.failed(charge).model_dump(mode="json")
    del old["permanent"]

    loaded = checkout.TaskFailed.model_validate(old)

    assert loaded.permanent is False
    assert summary(s.when(loaded))[0][0] == "TaskRetryScheduled"
