"""A scenario's steps and expectations, on the real runtime, with the messages of failures.

Each expectation passes when it holds and fails, when it does not, with the
documented message: what was expected, what was found, and the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from pmc.runtime import End
from pmc.runtime.lifecycle import TaskStartedBase
from pmc.testing import (
    START,
    ExpectationFailed,
    MakeScenario,
    Scenario,
    ScenarioError,
    fail,
    succeed,
)
from pmc.testing.render import STREAM_HEAD, STREAM_TAIL
from tests.testing.processes import hang_and_poll, kit_order

Make = MakeScenario


def placed(amount: int = 5) -> Any:
    return kit_order().OrderPlaced(order_id="o1", amount=amount)


@pytest.fixture
def paid(scenario: Make) -> Scenario:
    """An order whose charge succeeds at once: it waits for its reminder."""
    s = scenario(kit_order())
    s.script("Charge", succeed({"charge_id": "ch-1"})).script("Notify", succeed())
    return s.when(placed())


def test_a_step_is_checked_by_what_it_recorded(paid: Scenario) -> None:
    paid.expect_transitions(
        "Payment: Open -> Charging (charge)",
        "Reminder: Idle -> Waiting",
        "Payment: Charging -> Notifying",
        "Payment[Payment]: Notifying -> Paid (notified)",
    )
    paid.expect_tasks(("Charge", {"amount": 5}), "Notify")
    paid.expect_timers(("remind", timedelta(minutes=1)))
    paid.expect_data(charged=1, charge_id="ch-1").expect_states(Payment="Paid", Reminder="Waiting")
    paid.expect_end(None)

    paid.advance(timedelta(minutes=1))

    paid.expect_transitions("Reminder: Waiting -> Reminded (remind)").expect_tasks()
    paid.expect_end("completed")


def test_expected_transitions_not_found_show_both_lists_and_the_stream(paid: Scenario) -> None:
    paid.advance(timedelta(minutes=1))

    with pytest.raises(ExpectationFailed) as failed:
        paid.expect_transitions("Reminder: Waiting -> Expired")

    assert str(failed.value) == "\n".join(
        [
            "expected transitions (after 1m):",
            "  Reminder: Waiting -> Expired",
            "found:",
            "  Reminder: Waiting -> Reminded (remind)",
            "the stream (> the last step's events):",
            "     1 +0s                OrderPlaced order_id='o1' amount=5",
            "     2 +0s                TransitionPlanned Payment: Open -> Charging (charge)"
            " task Charge(order_id='o1' amount=5)",
            "     3 +0s                TransitionPlanned Reminder: Idle -> Waiting (wait)",
            "     4 +0s                TimerScheduled Reminder remind at +1m",
            "     5 +0s                TaskStarted Charge attempt 1 on pmc-testing",
            "     6 +0s                TaskCompleted Charge attempt 1 -> charge_id='ch-1'",
            "     7 +0s                TransitionPlanned Payment: Charging -> Notifying (charged)"
            " task Notify(order_id='o1') set charge_id='ch-1' charged=1",
            "     8 +0s                TaskStarted Notify attempt 1 on pmc-testing",
            "     9 +0s                TaskCompleted Notify attempt 1",
            "    10 +0s                TransitionPlanned Payment: Notifying -> Paid (notified)",
            "  > 11 +1m                TimerFired Reminder remind",
            "  > 12 +1m                TransitionPlanned Reminder: Waiting -> Reminded (remind)",
            "  > 13 +1m                ProcessCompleted",
        ]
    )


def _message_of(check: Callable[[], object]) -> str:
    with pytest.raises(ExpectationFailed) as failed:
        check()
    return str(failed.value)


def _head(message: str) -> str:
    """The message up to the stream."""
    head, _, stream = message.partition("the stream (> the last step's events):\n")
    assert "OrderPlaced order_id='o1'" in stream
    return head


@pytest.mark.parametrize(
    ("check", "head"),
    [
        (
            lambda s: s.expect_tasks(("Charge", {"amount": 7}), "Notify"),
            "expected tasks (when OrderPlaced):\n  Charge {'amount': 7}\n  Notify\n"
            "found:\n  Charge {'order_id': 'o1', 'amount': 5}\n  Notify {'order_id': 'o1'}\n",
        ),
        (
            lambda s: s.expect_timers(("remind", timedelta(minutes=2))),
            "expected timers (when OrderPlaced):\n  remind at (in 2m)\n"
            "found:\n  remind at 2026-01-01T12:01:00+00:00 (in 1m)\n",
        ),
        (
            lambda s: s.expect_timers(("remind", START)),
            "expected timers (when OrderPlaced):\n  remind at 2026-01-01T12:00:00+00:00\n"
            "found:\n  remind at 2026-01-01T12:01:00+00:00 (in 1m)\n",
        ),
        (
            lambda s: s.expect_signals("Abort"),
            "expected signals (when OrderPlaced):\n  Abort\nfound:\n  (none)\n",
        ),
        (
            lambda s: s.expect_data(charged=2, refund=0),
            "expected data (when OrderPlaced):\n  charged = 2\n  refund = 0\n"
            "found:\n  charged = 1\n  refund = '(no such field)'\n",
        ),
        (
            lambda s: s.expect_states(Payment="Failed", Reminder="Waiting"),
            "expected states (when OrderPlaced):\n  Payment: Failed\n  Reminder: Waiting\n"
            "found:\n  Payment: Paid\n  Reminder: Waiting\n",
        ),
        (
            lambda s: s.expect_end("failed"),
            "expected the end (when OrderPlaced):\n  failed\nfound:\n  running (no end)\n",
        ),
        (
            lambda s: s.expect_nothing(),
            "expected transitions (when OrderPlaced):\n  (none)\nfound:\n"
            "  Payment: Open -> Charging (charge)\n  Reminder: Idle -> Waiting (wait)\n"
            "  Payment: Charging -> Notifying (charged)\n  Payment: Notifying -> Paid (notified)\n",
        ),
    ],
    ids=["tasks", "timers", "timer-at", "signals", "data", "states", "end", "nothing"],
)
def test_each_expectation_that_does_not_hold_says_what_it_expected_and_found(
    paid: Scenario, check: Callable[[Scenario], object], head: str
) -> None:
    assert _head(_message_of(lambda: check(paid))) == head


def test_an_end_is_checked_with_its_reason(scenario: Make) -> None:
    s = scenario(kit_order()).script("Charge", fail("card blocked", permanent=True))
    s.when(placed())
    s.expect_end(End.FAILED, reason="Payment is in Failed")

    message = _message_of(lambda: s.expect_end("failed", reason="declined"))

    assert _head(message) == (
        "expected the end (when OrderPlaced):\n  failed: 'declined'\n"
        "found:\n  failed: 'Payment is in Failed'\n"
    )


def test_an_instance_of_a_multi_instance_machine_is_checked_by_its_id(paid: Scenario) -> None:
    paid.expect_states(Payment={"Payment": "Paid"})
    message = _message_of(lambda: paid.expect_states(Payment={"Payment": "Open"}))
    assert "expected states (when OrderPlaced):\n  Payment: {'Payment': 'Open'}\n" in message


def test_a_step_that_decides_nothing_is_expected_to(paid: Scenario) -> None:
    paid.advance(timedelta(minutes=1))  # the process completes
    paid.when(kit_order().OrderCancelled(order_id="o1"))
    paid.expect_nothing().expect_end("completed")


def test_a_transition_written_wrong_is_a_clear_error(paid: Scenario) -> None:
    with pytest.raises(ScenarioError, match="write `Machine: From -> To`"):
        paid.expect_transitions("Payment goes to Paid")


def test_a_scenario_follows_the_instance_of_its_first_event(scenario: Make) -> None:
    s = scenario(kit_order())
    with pytest.raises(ScenarioError, match="no event was given yet"):
        s.expect_end(None)
    s.script("Charge", succeed({"charge_id": "ch-1"})).script("Notify", succeed())
    assert s.when(placed()).key == "o1"


def test_work_can_be_held_and_one_task_run_ahead(scenario: Make) -> None:
    s = scenario(kit_order()).script("Charge", succeed({"charge_id": "ch-9"}))
    s.script("Notify", succeed())
    s.when(placed(), run_due=False)
    s.expect_tasks("Charge").expect_states(Payment="Charging")

    s.when_task_runs("Charge")

    # The sync Notify it planned ran inline, as the manager runs sync tasks.
    s.expect_transitions("Payment: Charging -> Notifying", "Payment: Notifying -> Paid")
    # On the scenario's own runner id, not a random one: messages are the same every run.
    assert {e.worker for e in s.step_events() if isinstance(e, TaskStartedBase)} == {"pmc-testing"}
    with pytest.raises(ScenarioError, match="0 tasks Charge are in flight, not one"):
        s.when_task_runs("Charge")


def test_runs_on_sqlite_as_on_memory(scenario: Make) -> None:
    s = scenario(kit_order(), store="sqlite")
    s.script("Charge", succeed({"charge_id": "ch-1"})).script("Notify", succeed())
    s.when(placed()).advance(timedelta(minutes=1)).expect_end("completed")
    assert s.store.__class__.__name__ != "MemoryStore"


def test_work_run_together_may_be_expected_in_any_order(paid: Scenario) -> None:
    later_first = ("Payment: Charging -> Notifying", "Payment: Open -> Charging")
    paid.expect_transitions(
        *later_first, "Payment: Notifying -> Paid", "Reminder: Idle -> Waiting", ordered=False
    )
    paid.expect_tasks("Notify", "Charge", ordered=False)

    message = _message_of(lambda: paid.expect_tasks("Notify", "Notify", ordered=False))

    assert _head(message).startswith("expected tasks (when OrderPlaced):\n  Notify\n  Notify\n")


def test_a_long_stream_is_shown_by_its_first_and_last_events(scenario: Make) -> None:
    s = scenario(hang_and_poll(), default=succeed())
    s.when(hang_and_poll().Go(id="h1")).advance(timedelta(hours=1))  # polled 60 times
    with pytest.raises(ExpectationFailed) as failed:
        s.expect_states(Poller="Stopped")

    stream = str(failed.value).partition("the stream (> the last step's events):\n")[2]
    lines = stream.splitlines()
    left_out = len(s.history) - STREAM_HEAD - STREAM_TAIL
    assert left_out > 1
    assert len(lines) == STREAM_HEAD + 1 + STREAM_TAIL
    assert lines[STREAM_HEAD] == f"  … {left_out} events …"
    assert lines[0].endswith("Go id='h1'")
    assert lines[-1].startswith(f"  >{len(s.history):>3} +1h")  # the last event


def test_expect_end_with_a_misspelt_end_is_a_clear_pmc_error(scenario: Make) -> None:
    s = scenario(kit_order(), default=succeed({"charge_id": "c"}))
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    with pytest.raises(ScenarioError):  # not ValueError: 'complete' is not a valid End
        s.expect_end("complete")


def test_expect_data_of_a_missing_field_cannot_pass(scenario: Make) -> None:
    s = scenario(kit_order(), default=succeed({"charge_id": "c"}))
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    with pytest.raises(AssertionError):
        s.expect_data(chargd="(no such field)")


def test_expect_nothing_fails_when_the_step_cancelled_the_process(scenario: Make) -> None:
    # Documented as "the last step changed nothing": an end is a change, not only transitions.
    s = scenario(kit_order()).script("Charge", fail("busy")).script("Notify", succeed())
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5))
    s.when(kit_order().OrderCancelled(order_id="o1"))
    assert s.state.end is not None  # the process was cancelled by this step
    with pytest.raises(AssertionError):
        s.expect_nothing()
