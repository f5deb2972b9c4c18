"""The reference scenario of the specification, end to end through decide/evolve."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from pmc.runtime import End
from tests.codegen.support import compile_and_import
from tests.engine.scenario import Scenario, summary

REBASE_CLEANUP = """
process RebaseCleanup {
    key rebase_id
    event RebaseFailed {
        rebase_id: str
        instances: list[str]
        reason: str = "rebase failed"
    }
    task CloseInstance async {
        reason: str
        retry 3 backoff 2s max 1m
        timeout 30s
    }
    machine Instance {
        states Working, Closing, Closed, Failed
        initial Working
        final Closed, Failed
        transition close: Working -> Closing on RebaseFailed.instances
            run CloseInstance(reason = event.reason)
        transition closed: Closing -> Closed on CloseInstance completed
        transition give_up: Closing -> Failed on CloseInstance failed
    }
    complete when all Instance final
    fail when any Instance in Failed
}
"""


@pytest.fixture(scope="module")
def rebase() -> ModuleType:
    return compile_and_import(REBASE_CLEANUP)


def test_a_failed_rebase_plans_one_close_per_instance(rebase: ModuleType) -> None:
    s = Scenario(rebase)

    decisions = s.when(rebase.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))

    assert summary(decisions) == [
        ("TransitionPlanned", "A", "Working->Closing", "CloseInstance"),
        ("TransitionPlanned", "B", "Working->Closing", "CloseInstance"),
        ("TransitionPlanned", "C", "Working->Closing", "CloseInstance"),
    ]
    assert len({d.task_id for d in decisions}) == 3
    assert all(d.task_mode == "async" for d in decisions)
    assert all(d.task_input == {"reason": "rebase failed"} for d in decisions)


def test_three_completions_close_all_and_complete_the_process(rebase: ModuleType) -> None:
    s = Scenario(rebase).given(rebase.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))
    closes = [s.planned(i, "close") for i in "ABC"]

    after_a = s.when(s.completed(closes[0]))
    after_b = s.when(s.completed(closes[1]))
    after_c = s.when(s.completed(closes[2]))

    assert summary(after_a) == [("TransitionPlanned", "A", "Closing->Closed", None)]
    assert summary(after_b) == [("TransitionPlanned", "B", "Closing->Closed", None)]
    assert summary(after_c) == [
        ("TransitionPlanned", "C", "Closing->Closed", None),
        ("ProcessCompleted",),
    ]
    assert s.state.end is End.COMPLETED
    assert dict(s.state.instances["Instance"]) == {"A": "Closed", "B": "Closed", "C": "Closed"}
    assert s.state.tasks == {}


def test_a_decision_records_what_caused_it(rebase: ModuleType) -> None:
    s = Scenario(rebase)
    meta = s.meta()

    decisions = s.handle(rebase.RebaseFailed(rebase_id="r1", instances=["A"]), meta)

    assert [d.caused_by for d in decisions] == [meta.event_id]


def test_a_decision_made_again_plans_the_same_task_ids(rebase: ModuleType) -> None:
    # After a version conflict the runtime reloads and decides again on the
    # same event (same id): the tasks it plans must be the same ones.
    s = Scenario(rebase)
    meta = s.meta()
    event = rebase.RebaseFailed(rebase_id="r1", instances=["A", "B"])

    first: list[Any] = s.definition.decide(s.state, event, meta)
    again: list[Any] = s.definition.decide(s.state, event, meta)

    assert [d.task_id for d in first] == [d.task_id for d in again]
    other: list[Any] = s.definition.decide(s.state, event, s.meta())
    assert {d.task_id for d in other}.isdisjoint(d.task_id for d in first)


def test_task_ids_differ_between_streams(rebase: ModuleType) -> None:
    r1, r2 = Scenario(rebase, key="r1"), Scenario(rebase, key="r2")
    meta1 = r1.meta()
    meta2 = type(meta1)(event_id=meta1.event_id, timestamp=meta1.timestamp, key="r2")

    a = r1.handle(rebase.RebaseFailed(rebase_id="r1", instances=["A"]), meta1)
    b = r2.handle(rebase.RebaseFailed(rebase_id="r2", instances=["A"]), meta2)

    assert a[0].task_id != b[0].task_id


def test_one_instance_failing_for_good_fails_the_process(rebase: ModuleType) -> None:
    s = Scenario(rebase).given(rebase.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    close_a = s.planned("A", "close")
    for attempt in (1, 2, 3):
        s.given(s.failed(close_a, attempt=attempt))

    decisions = s.when(s.failed(close_a, attempt=4, reason="instance is locked"))

    assert summary(decisions) == [
        ("TransitionPlanned", "A", "Closing->Failed", None),
        ("ProcessFailed", "Instance A is in Failed"),
    ]
    assert s.state.end is End.FAILED
    # B's close is still in flight, but the process has ended: nothing more.
    assert s.when(s.completed(s.planned("B", "close"))) == []


def test_an_empty_fan_out_plans_nothing_and_leaves_the_process_open(rebase: ModuleType) -> None:
    # "all Instance final" needs at least one instance: none is not "all final".
    s = Scenario(rebase)

    assert s.when(rebase.RebaseFailed(rebase_id="r1", instances=[])) == []
    assert s.state.started and not s.state.ended

    decisions = s.when(rebase.RebaseFailed(rebase_id="r1", instances=["A"]))

    assert summary(decisions) == [("TransitionPlanned", "A", "Working->Closing", "CloseInstance")]
    s.given(s.completed(s.planned("A", "close")))
    assert s.state.end is End.COMPLETED


def test_a_repeated_id_in_one_fan_out_is_planned_once(rebase: ModuleType) -> None:
    s = Scenario(rebase)

    decisions = s.when(rebase.RebaseFailed(rebase_id="r1", instances=["A", "A"]))

    assert summary(decisions) == [("TransitionPlanned", "A", "Working->Closing", "CloseInstance")]


def test_retries_back_off_from_the_failed_attempts_time(rebase: ModuleType) -> None:
    s = Scenario(rebase).given(rebase.RebaseFailed(rebase_id="r1", instances=["A"]))
    close_a = s.planned("A", "close")

    delays = []
    for attempt in (1, 2, 3):
        s.advance(seconds=5)
        (retry,) = s.when(s.failed(close_a, attempt=attempt))
        assert retry.attempt == attempt + 1
        delays.append(retry.not_before - s.now)

    assert delays == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
