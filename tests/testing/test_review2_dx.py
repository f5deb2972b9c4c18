"""Second review (developer experience): ``time_out()`` of a sync task.

docs/testing.md: sync and async tasks "use the same scripts", and a
``time_out()`` attempt "stays in flight with no outcome" until ``advance``
reaches the end of its lease. A sync task is run inline by the step, so its
hang must be caught by the step as an async one's is, not escape the test
as the kit's internal ``AttemptHung`` (a ``GeneratorExit`` without a message).
"""

from __future__ import annotations

from datetime import timedelta

from pmc.testing import MakeScenario, succeed, time_out
from tests.runtime.support import compiled
from tests.testing.processes import kit_order


def test_a_sync_task_timing_out_after_when_task_runs_stays_in_flight(
    scenario: MakeScenario,
) -> None:
    order = kit_order()
    s = scenario(order).script("Charge", succeed({"charge_id": "ch-1"}))
    s.script("Notify", time_out())
    s.when(order.OrderPlaced(order_id="o1", amount=5), run_due=False)
    s.when_task_runs("Charge")
    s.expect_transitions("Payment: Charging -> Notifying")
    s.expect_states(Payment="Notifying")


def test_a_sync_task_timing_out_in_the_worker_s_turn_is_timed_out_by_advance(
    scenario: MakeScenario,
) -> None:
    order = kit_order()
    s = scenario(order).script("Charge", succeed({"charge_id": "ch-1"}))
    s.script("Notify", time_out())
    s.when(order.OrderPlaced(order_id="o1", amount=5))
    s.expect_states(Payment="Notifying")
    s.advance(timedelta(minutes=10))
    s.expect_states(Payment="Paid")


CHECKED_ON_ARRIVAL = """
process Checked {
    key id

    event Arrived {
        id: str
    }

    task Check sync {
        id: str
        timeout 10s
    }

    machine M {
        states Waiting, Checking, Checked, Unchecked
        initial Waiting
        final Checked, Unchecked

        transition check: Waiting -> Checking on Arrived
            run Check(id = key)
        transition checked: Checking -> Checked on Check completed
        transition unchecked: Checking -> Unchecked on Check failed
    }

    start on Arrived
}
"""


def test_a_sync_task_timing_out_in_when_is_timed_out_when_its_lease_is_over(
    scenario: MakeScenario,
) -> None:
    checked = compiled(CHECKED_ON_ARRIVAL)
    s = scenario(checked).script("Check", time_out())
    s.when(checked.Arrived(id="a"))
    s.expect_states(M="Checking")
    s.advance(timedelta(seconds=10))
    s.expect_states(M="Unchecked")
