"""Review of the testing kit (branch testing): each test shows a defect and fails today."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from types import ModuleType

import pytest

from pmc.testing import MakeScenario, ScenarioError, ScriptError, fail, succeed, time_out
from tests.runtime.support import compiled
from tests.testing.processes import kit_order

Make = MakeScenario

# A task that may hang for 30s beside a timer due after 10s, and a poller.
HANG_AND_POLL = """
process HangAndPoll {
    key id

    event Go {
        id: str
    }

    task Slow {
        x: str
        timeout 30s
    }

    machine M {
        states Idle, Running, Ticked, Done, Failed
        initial Idle
        final Done, Failed, Ticked

        transition start: Idle -> Running on Go
            run Slow(x = key)
        transition tick: Running -> Ticked on after 10s
        transition done: Running -> Done on Slow completed
        transition failed: Running -> Failed on Slow failed
    }

    machine Poller {
        states Idle, Polling, Stopped
        initial Idle
        final Stopped

        transition begin: Idle -> Polling on Go
        transition poll: Polling -> Polling on after 1m
        transition stop: Polling -> Stopped on Go
    }

    start on Go
}
"""


def hang_and_poll() -> ModuleType:
    return compiled(HANG_AND_POLL)


def test_a_timer_due_while_a_handler_hangs_fires_at_its_own_time(scenario: Make) -> None:
    # In production the 10s timer fires while Slow hangs; its timeout at +30s
    # then finds M in Ticked. time_out() jumps the clock to +30s inside `when`
    # and records the timeout first: M ends in Failed, a story that cannot happen.
    s = scenario(hang_and_poll()).script("Slow", time_out())
    s.when(hang_and_poll().Go(id="h1"))
    s.advance(timedelta(seconds=30))
    s.expect_states(M="Ticked")


def test_a_poller_can_be_advanced_by_a_day(scenario: Make) -> None:
    # One timer a minute: a day is 1440 rounds, refused as runaway (MAX_ROUNDS = 1000).
    s = scenario(hang_and_poll(), default=succeed())
    s.when(hang_and_poll().Go(id="h1"))
    s.advance(timedelta(days=1))
    assert len([t for t in s.transitions() if t.machine == "Poller"]) == 1440


def test_when_task_runs_of_a_retry_not_yet_due_is_an_error_not_a_silent_no_op(
    scenario: Make,
) -> None:
    s = scenario(kit_order()).script("Charge", fail("busy"), succeed({"charge_id": "c"}))
    s.script("Notify", succeed())
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))  # the retry is due at +1m
    with pytest.raises(ScenarioError):
        s.when_task_runs("Charge", fail("blocked", permanent=True))


def test_an_outcome_given_to_when_task_runs_does_not_outlive_the_step(scenario: Make) -> None:
    s = scenario(kit_order()).script("Charge", fail("busy"), succeed({"charge_id": "c"}))
    s.script("Notify", succeed())
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    with contextlib.suppress(ScenarioError):
        s.when_task_runs("Charge", fail("blocked", permanent=True))  # runs nothing today
    s.advance(timedelta(minutes=1))
    s.expect_states(Payment="Paid")  # as scripted; today the step's outcome lingers: Failed


def test_a_script_error_is_reported_once_not_on_every_later_step(scenario: Make) -> None:
    s = scenario(kit_order()).script("Notify", succeed())
    with pytest.raises(ScriptError):
        s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    s.script("Charge", succeed({"charge_id": "c"}))
    s.advance(timedelta(minutes=1))  # today: the same ScriptError again
    s.expect_states(Payment="Paid")


def test_expect_end_with_a_misspelt_end_is_a_clear_pmc_error(scenario: Make) -> None:
    s = scenario(kit_order(), default=succeed({"charge_id": "c"}))
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    with pytest.raises(ScenarioError):  # today: ValueError 'complete' is not a valid End
        s.expect_end("complete")


def test_expect_data_of_a_missing_field_cannot_pass(scenario: Make) -> None:
    s = scenario(kit_order(), default=succeed({"charge_id": "c"}))
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    with pytest.raises(AssertionError):
        s.expect_data(chargd="(no such field)")


def test_expect_nothing_fails_when_the_step_cancelled_the_process(scenario: Make) -> None:
    # Documented as "the last step changed nothing"; it checks transitions only.
    s = scenario(kit_order()).script("Charge", fail("busy")).script("Notify", succeed())
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    s.when(kit_order().OrderCancelled(order_id="o1"))
    assert s.state.end is not None  # the process was cancelled by this step
    with pytest.raises(AssertionError):
        s.expect_nothing()


def test_two_scenarios_of_one_test_do_not_share_their_time(scenario: Make) -> None:
    # "A second instance is a second scenario" (docs/testing.md), but the fixture
    # puts every scenario on the one pmc_clock: advancing one moves the other.
    one = scenario(kit_order()).script("Charge", fail("busy"), succeed({"charge_id": "c"}))
    two = scenario(kit_order()).script("Charge", fail("busy"), succeed({"charge_id": "c"}))
    one.script("Notify", succeed()).when(kit_order().OrderPlaced(order_id="o1", amount=5))
    two.script("Notify", succeed()).when(kit_order().OrderPlaced(order_id="o2", amount=5))
    one.advance(timedelta(minutes=1))
    two.advance(timedelta(seconds=10))  # o2's retry is due at +1m: not yet
    two.expect_nothing()
