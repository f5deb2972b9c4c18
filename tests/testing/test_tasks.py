"""The fake task runner: each task answers as scripted, on the real runtime's retries and leases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from pmc.runtime import TaskContext
from pmc.testing import (
    Call,
    FakeTasks,
    MakeScenario,
    Scenario,
    ScenarioError,
    ScriptError,
    fail,
    raises,
    run,
    succeed,
    time_out,
)
from tests.testing.processes import checked_on_arrival, kit_order

Make = MakeScenario


def placed() -> Any:
    return kit_order().OrderPlaced(order_id="o1", amount=5)


def charging(scenario: Make, *outcomes: Any) -> Scenario:
    """An order whose charge answers ``outcomes``, its notification succeeding."""
    return scenario(kit_order()).script("Charge", *outcomes).script("Notify", succeed())


def test_a_result_may_be_made_from_the_task_input(scenario: Make) -> None:
    s = charging(scenario, succeed(lambda task: {"charge_id": f"ch-{task.amount}"}))
    s.when(placed()).expect_data(charge_id="ch-5")
    assert s.tasks.calls("Charge") == [
        Call("Charge", "Payment", 1, {"order_id": "o1", "amount": 5})
    ]
    assert s.tasks.inputs("Notify") == [{"order_id": "o1"}]


def test_fail_twice_then_succeed_takes_the_retries_the_task_declares(scenario: Make) -> None:
    s = charging(scenario, fail("busy").times(2), succeed({"charge_id": "ch-3"}))
    s.when(placed())
    s.expect_transitions("Payment: Open -> Charging", "Reminder: Idle -> Waiting")

    s.advance(timedelta(minutes=2))  # `retry 2 every 1m`: attempts at +1m and +2m

    assert [c.attempt for c in s.tasks.calls("Charge")] == [1, 2, 3]
    s.expect_data(charge_id="ch-3").expect_end("completed")


def test_a_permanent_failure_skips_the_retries_left(scenario: Make) -> None:
    s = charging(scenario, fail("card blocked", permanent=True)).when(placed())
    s.expect_transitions(
        "Payment: Open -> Charging", "Reminder: Idle -> Waiting", "Payment: Charging -> Failed"
    )
    assert len(s.tasks.calls("Charge")) == 1


def test_the_last_outcome_stands_for_every_call_after_it(scenario: Make) -> None:
    s = charging(scenario, fail("busy")).when(placed())
    s.advance(timedelta(minutes=5))
    assert [c.attempt for c in s.tasks.calls("Charge")] == [1, 2, 3]
    s.expect_end("failed")


def test_a_timed_out_attempt_is_recorded_at_the_end_of_its_lease_and_retried(
    scenario: Make,
) -> None:
    s = charging(scenario, time_out(), succeed({"charge_id": "ch-2"})).when(placed())
    # The handler hangs: its attempt is in flight, with no outcome, the clock unmoved.
    assert s.now == s.start
    assert [type(e).__name__ for e in s.step_events()][-1] == "TaskStarted"

    # `timeout 30s`: the worker finds the lease over 30s later and schedules a retry.
    s.advance(timedelta(seconds=30))
    names = [type(e).__name__ for e in s.step_events()]
    assert names == ["TaskTimedOut", "TaskRetryScheduled"]  # no late outcome: it never ended
    s.expect_states(Payment="Charging")

    s.advance(timedelta(minutes=1))

    assert [c.attempt for c in s.tasks.calls("Charge")] == [1, 2]
    s.expect_data(charge_id="ch-2").expect_end("completed")


def test_a_raised_error_fails_the_attempt_with_what_the_runtime_makes_of_it(
    scenario: Make,
) -> None:
    s = charging(scenario, raises(KeyError("card")), succeed({"charge_id": "ch-2"}))
    s.when(placed())
    [failed] = [e for e in s.step_events() if type(e).__name__ == "TaskFailed"]
    assert failed.reason == "'card'"


def test_a_handler_may_be_def_or_async_def(scenario: Make) -> None:
    def charge(task: Any, ctx: TaskContext) -> dict[str, str]:
        return {"charge_id": f"{ctx.machine_id}-{ctx.attempt}"}

    async def notify(task: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0)

    s = scenario(kit_order()).script("Charge", run(charge)).script("Notify", run(notify))
    s.when(placed()).expect_data(charge_id="Payment-1").expect_states(Payment="Paid")


def test_a_task_nobody_scripted_is_an_error_naming_it(scenario: Make) -> None:
    s = scenario(kit_order()).script("Charge", succeed({"charge_id": "ch-1"}))
    with pytest.raises(ScriptError) as raised:
        s.when(placed())
    message = str(raised.value)
    assert message.startswith(
        "task Notify ran but is not scripted: script it "
        "(scenario.script('Notify', succeed(...))) or give the scenario a default outcome\n"
    )
    assert "TaskFailed Notify attempt 1: 'Notify is not scripted'" in message


def test_a_default_outcome_answers_the_tasks_left_unscripted(scenario: Make) -> None:
    s = scenario(kit_order(), default=succeed()).script("Charge", succeed({"charge_id": "c"}))
    s.when(placed()).expect_states(Payment="Paid")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (lambda s: s.script("Refund", succeed()), "process KitOrder has no task Refund"),
        (lambda s: s.script("Charge"), "no outcome given for Charge"),
        (lambda s: s.script("Charge", fail("x").times(0)), "at least one call, not 0"),
    ],
    ids=["unknown task", "no outcome", "zero times"],
)
def test_a_script_written_wrong_is_refused(
    scenario: Make, script: Callable[[Scenario], object], message: str
) -> None:
    with pytest.raises(ScriptError, match=message):
        script(scenario(kit_order()))


def test_an_instance_may_have_a_script_of_its_own_before_the_tasks(scenario: Make) -> None:
    s = scenario(kit_order()).script("Notify", succeed())
    s.script("Charge", fail("busy", permanent=True))
    s.script("Charge", succeed({"charge_id": "own"}), machine_id="Payment")
    s.when(placed()).expect_data(charge_id="own")


def test_a_task_run_ahead_may_answer_once_otherwise_than_scripted(scenario: Make) -> None:
    s = charging(scenario, succeed({"charge_id": "ch-1"})).when(placed(), run_due=False)

    s.when_task_runs("Charge", fail("busy"))
    s.expect_states(Payment="Charging")
    s.advance(timedelta(minutes=1))  # the retry follows the script

    assert [c.attempt for c in s.tasks.calls("Charge")] == [1, 2]
    s.expect_data(charge_id="ch-1").expect_end("completed")


def test_a_retry_run_ahead_before_it_is_due_says_when_it_is_due(scenario: Make) -> None:
    s = charging(scenario, fail("busy"), succeed({"charge_id": "c"})).when(placed())
    with pytest.raises(ScenarioError, match=r"attempt 2 of Charge is not due yet: .* \(in 1m\)"):
        s.when_task_runs("Charge")
    s.advance(timedelta(minutes=1)).expect_states(Payment="Paid")


def test_fake_tasks_take_a_generated_module_as_the_rest_of_the_kit_does() -> None:
    module = kit_order()

    tasks = FakeTasks(module).script("Charge", succeed())

    assert tasks.calls() == []
    with pytest.raises(ScriptError, match="neither a process definition nor a generated module"):
        FakeTasks(object())


def test_running_ahead_a_retry_not_yet_due_is_an_error_not_a_silent_no_op(
    scenario: Make,
) -> None:
    s = charging(scenario, fail("busy"), succeed({"charge_id": "c"})).when(placed())  # retry at +1m
    with pytest.raises(ScenarioError):
        s.when_task_runs("Charge", fail("blocked", permanent=True))


def test_an_outcome_given_to_when_task_runs_does_not_outlive_the_step(scenario: Make) -> None:
    s = charging(scenario, fail("busy"), succeed({"charge_id": "c"})).when(placed())
    with contextlib.suppress(ScenarioError):
        s.when_task_runs("Charge", fail("blocked", permanent=True))  # runs nothing: not due
    s.advance(timedelta(minutes=1))
    s.expect_states(Payment="Paid")  # as scripted: the refused step's outcome is gone


def test_a_script_error_is_reported_once_not_on_every_later_step(scenario: Make) -> None:
    s = scenario(kit_order()).script("Notify", succeed())
    with pytest.raises(ScriptError):
        s.when(placed())
    s.script("Charge", succeed({"charge_id": "c"}))
    s.advance(timedelta(minutes=1))  # not the same ScriptError again
    s.expect_states(Payment="Paid")


# ---- time_out() of a sync task ------------------------------------------------------
# docs/testing.md: sync and async tasks "use the same scripts", and a time_out()
# attempt "stays in flight with no outcome" until `advance` reaches the end of its
# lease. A sync task is run inline by the step, so its hang is caught by the step
# as an async one's is, and does not escape the test as the kit's internal
# ``AttemptHung``.


def test_a_sync_task_timing_out_after_when_task_runs_stays_in_flight(scenario: Make) -> None:
    order = kit_order()
    s = scenario(order).script("Charge", succeed({"charge_id": "ch-1"}))
    s.script("Notify", time_out())
    s.when(order.OrderPlaced(order_id="o1", amount=5), run_due=False)
    s.when_task_runs("Charge")
    s.expect_transitions("Payment: Charging -> Notifying")
    s.expect_states(Payment="Notifying")


def test_a_sync_task_timing_out_in_the_worker_s_turn_is_timed_out_by_advance(
    scenario: Make,
) -> None:
    order = kit_order()
    s = scenario(order).script("Charge", succeed({"charge_id": "ch-1"}))
    s.script("Notify", time_out())
    s.when(order.OrderPlaced(order_id="o1", amount=5))
    s.expect_states(Payment="Notifying")
    s.advance(timedelta(minutes=10))
    s.expect_states(Payment="Paid")


def test_a_sync_task_timing_out_in_when_is_timed_out_when_its_lease_is_over(
    scenario: Make,
) -> None:
    checked = checked_on_arrival()
    s = scenario(checked).script("Check", time_out())
    s.when(checked.Arrived(id="a"))
    s.expect_states(M="Checking")
    s.advance(timedelta(seconds=10))
    s.expect_states(M="Unchecked")
