"""Time passing in a scenario, and scenarios that start from a recorded stream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pmc.streams.export import export_streams, to_json_line
from pmc.testing import (
    ClockError,
    FakeClock,
    MakeScenario,
    Scenario,
    ScenarioError,
    fail,
    succeed,
    time_out,
)
from tests.runtime.support import seed
from tests.testing.processes import hang_and_poll, kit_order

Make = MakeScenario


def placed() -> Any:
    return kit_order().OrderPlaced(order_id="o1", amount=5)


def retried(scenario: Make, store: str = "memory") -> Scenario:
    """An order whose charge fails once: its retry and its reminder are both due at +1m."""
    s = scenario(kit_order(), store=store)
    s.script("Charge", fail("busy"), succeed({"charge_id": "ch-2"})).script("Notify", succeed())
    return s.when(placed())


def _names(s: Scenario) -> list[str]:
    return [type(e).__name__ for e in s.step_events()]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_retry_and_a_timer_due_at_once_run_in_the_order_of_the_runtime(
    scenario: Make, store: str
) -> None:
    s = retried(scenario, store)

    s.advance(timedelta(minutes=1))

    # The retry's attempt is started with the claim, the timer fires, then the
    # attempt's outcome is decided on the state the timer left.
    assert _names(s)[:4] == ["TaskStarted", "TimerFired", "TransitionPlanned", "TaskCompleted"]
    s.expect_transitions(
        "Reminder: Waiting -> Reminded",
        "Payment: Charging -> Notifying",
        "Payment: Notifying -> Paid",
    )
    assert {e.created_at - s.start for e in s.history[-9:]} == {timedelta(minutes=1)}


def test_time_passes_in_steps_each_piece_of_work_at_its_own_time(scenario: Make) -> None:
    s = scenario(kit_order())
    s.script("Charge", fail("busy"), fail("busy"), succeed({"charge_id": "ch-3"}))
    s.script("Notify", succeed()).when(placed())

    s.advance(timedelta(hours=1))

    started = [e.created_at - s.start for e in s.history if type(e.event).__name__ == "TaskStarted"]
    assert started == [
        timedelta(0),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=2),
    ]
    assert s.now - s.start == timedelta(hours=1)


def test_time_never_runs_back(scenario: Make) -> None:
    with pytest.raises(ClockError, match="time never runs back"):
        retried(scenario).advance(timedelta(seconds=-1))
    with pytest.raises(ClockError):
        FakeClock().advance(timedelta(days=-1))


def test_a_recorded_stream_is_given_as_it_was_recorded(scenario: Make) -> None:
    recorded = retried(scenario).history  # the charge failed, its retry is due at +1m

    s = scenario(kit_order()).script("Charge", succeed({"charge_id": "ch-9"}))
    s.script("Notify", succeed())
    s.given(*recorded, run_due=False)

    assert [e.event_id for e in s.history] == [e.event_id for e in recorded]
    s.expect_states(Payment="Charging", Reminder="Waiting")
    # The work index was written with it: the retry and the timer come due.
    s.advance(timedelta(minutes=1))
    s.expect_data(charge_id="ch-9").expect_end("completed")


def test_a_stream_exported_by_pmc_export_is_given_line_by_line(scenario: Make) -> None:
    earlier = retried(scenario)
    lines = [to_json_line(e) for e in export_streams(earlier.store, "KitOrder")]

    s = scenario(kit_order()).script("Charge", succeed({"charge_id": "ch-9"}))
    s.script("Notify", succeed()).given_stream(lines)

    assert s.state == earlier.state
    s.advance(timedelta(minutes=1)).expect_end("completed")


def test_a_stream_of_another_process_is_refused(scenario: Make) -> None:
    line = to_json_line(next(export_streams(retried(scenario).store, "KitOrder")))
    with pytest.raises(ScenarioError, match="holds events of Other, not only of KitOrder"):
        scenario(kit_order()).given_stream([line.replace('"KitOrder"', '"Other"', 1)])


def test_a_scenario_follows_one_instance(scenario: Make) -> None:
    s = retried(scenario)
    with pytest.raises(ScenarioError, match="follows the instance 'o1', not 'o2'"):
        s.when(kit_order().OrderPlaced(order_id="o2", amount=1))
    with pytest.raises(ScenarioError, match="follows the instance 'o1', not 'o3'"):
        s.given(kit_order().OrderCancelled(order_id="o3"))


def test_an_event_of_another_process_is_refused(scenario: Make) -> None:
    rebase = seed().RebaseFailed(rebase_id="r1", instances=["A"])
    with pytest.raises(ScenarioError, match="RebaseFailed is not an event of KitOrder"):
        scenario(kit_order()).given(rebase)


def test_an_exported_event_that_does_not_load_is_a_clear_error(scenario: Make) -> None:
    line = to_json_line(next(export_streams(retried(scenario).store, "KitOrder")))
    broken = line.replace('"amount":5', '"amount":"five"')
    with pytest.raises(ScenarioError, match=r"version 1 \(KitOrder.OrderPlaced\) does not load"):
        scenario(kit_order()).given_stream([broken])


def test_a_long_recorded_stream_is_loaded_once_and_appended_once(
    scenario: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = retried(scenario).history
    s = scenario(kit_order())
    loads: list[str] = []
    appends: list[int] = []
    load, append = s.store.load, s.store.append

    def counted_load(*args: Any, **kwargs: Any) -> Any:
        loads.append(args[1])
        return load(*args, **kwargs)

    def counted_append(*args: Any, **kwargs: Any) -> Any:
        appends.append(len(args[2]))
        return append(*args, **kwargs)

    monkeypatch.setattr(s.store, "load", counted_load)
    monkeypatch.setattr(s.store, "append", counted_append)
    s.given(*recorded, run_due=False)

    # For the whole stream, not per event: a load to fold it and one to rebuild
    # its row of the index; an append of its events and an empty one, the row's.
    assert len(recorded) > 5
    assert (len(loads), appends) == (2, [len(recorded), 0])


def test_work_still_due_after_the_rounds_allowed_is_an_error_showing_the_stream(
    scenario: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pmc.testing.scenario.MAX_ROUNDS", 1)  # a runaway, made cheap
    s = scenario(kit_order(), default=succeed({"charge_id": "c"}))
    with pytest.raises(ScenarioError, match=r"after 1 rounds \(when OrderPlaced\)") as runaway:
        s.when(placed())
    assert "OrderPlaced order_id='o1'" in str(runaway.value).partition("the stream")[2]


def test_a_timer_due_while_a_handler_hangs_fires_at_its_own_time(scenario: Make) -> None:
    # In production the 10s timer fires while Slow hangs; its timeout at +30s
    # then finds M in Ticked. time_out() must not jump the clock to +30s inside
    # `when` and record the timeout first (M in Failed: a story that cannot happen).
    s = scenario(hang_and_poll()).script("Slow", time_out())
    s.when(hang_and_poll().Go(id="h1"))
    s.advance(timedelta(seconds=30))
    s.expect_states(M="Ticked")


def test_a_poller_can_be_advanced_by_a_day(scenario: Make) -> None:
    # One timer a minute: a day is 1440 rounds, more than a runaway step's MAX_ROUNDS.
    s = scenario(hang_and_poll(), default=succeed())
    s.when(hang_and_poll().Go(id="h1"))
    s.advance(timedelta(days=1))
    assert len([t for t in s.transitions() if t.machine == "Poller"]) == 1440


def test_two_scenarios_of_one_test_do_not_share_their_time(scenario: Make) -> None:
    # "A second instance is a second scenario" (docs/testing.md): each has its
    # own clock, advancing one does not move the other.
    one = scenario(kit_order()).script("Charge", fail("busy"), succeed({"charge_id": "c"}))
    two = scenario(kit_order()).script("Charge", fail("busy"), succeed({"charge_id": "c"}))
    one.script("Notify", succeed()).when(kit_order().OrderPlaced(order_id="o1", amount=5))
    two.script("Notify", succeed()).when(kit_order().OrderPlaced(order_id="o2", amount=5))
    one.advance(timedelta(minutes=1))
    two.advance(timedelta(seconds=10))  # o2's retry is due at +1m: not yet
    two.expect_nothing()
