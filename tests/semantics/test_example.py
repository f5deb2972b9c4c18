"""The reference scenario analyses cleanly into the model codegen needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmc.semantics.model import (
    AllFinalCondition,
    AnyInCondition,
    BindingModel,
    EventFieldExpr,
    FieldModel,
    KeyModel,
    ListType,
    Outcome,
    OutcomeTriggerModel,
    Primitive,
    PrimitiveType,
    ProcessModel,
    RetryDelayKind,
    RetryPolicy,
    RunModel,
    SelectorTriggerModel,
    TaskMode,
)
from tests.semantics.helpers import analyze_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STR = PrimitiveType(Primitive.STR)


@pytest.fixture(scope="module")
def model() -> ProcessModel:
    analysis = analyze_text((EXAMPLES / "rebase_cleanup.pm").read_text(encoding="utf-8"))
    assert analysis.diagnostics == ()
    assert analysis.model is not None
    return analysis.model


def test_every_example_is_clean() -> None:
    for path in sorted(EXAMPLES.glob("*.pm")):
        analysis = analyze_text(path.read_text(encoding="utf-8"))
        assert [d.message for d in analysis.diagnostics] == [], path.name
        assert analysis.model is not None


def test_key_and_event_fields_are_resolved(model: ProcessModel) -> None:
    assert model.name == "RebaseCleanup"
    assert model.key == KeyModel("rebase_id", STR)
    assert model.event("RebaseFailed").fields == (
        FieldModel("rebase_id", STR),
        FieldModel("instances", ListType(STR)),
        FieldModel("reason", STR, has_default=True, default="rebase failed"),
    )


def test_task_policy_is_filled_in(model: ProcessModel) -> None:
    task = model.task("CloseInstance")
    assert task.mode is TaskMode.ASYNC
    assert task.fields == (FieldModel("reason", STR),)
    assert task.returns == ()
    assert task.retry == RetryPolicy(3, RetryDelayKind.BACKOFF, 2_000, 60_000)
    assert task.timeout_ms == 30_000


def test_the_machine_is_multi_instance_with_a_fan_out_selector(model: ProcessModel) -> None:
    machine = model.machine("Instance")
    assert machine.states == ("Working", "Closing", "Closed", "Failed")
    assert (machine.initial, machine.final) == ("Working", ("Closed", "Failed"))
    assert machine.multi_instance
    close, closed, give_up = machine.transitions
    assert close.trigger == SelectorTriggerModel("RebaseFailed", "instances", fan_out=True)
    assert close.run == RunModel(
        "CloseInstance", (BindingModel("reason", EventFieldExpr("reason")),)
    )
    assert (closed.sources, closed.target) == (("Closing",), "Closed")
    assert closed.trigger == OutcomeTriggerModel("CloseInstance", Outcome.COMPLETED)
    assert give_up.trigger == OutcomeTriggerModel("CloseInstance", Outcome.FAILED)


def test_process_clauses(model: ProcessModel) -> None:
    assert model.start_events is None  # no `start on`: any trigger event starts one
    assert model.complete_when == (AllFinalCondition("Instance"),)
    assert model.fail_when == (AnyInCondition("Instance", ("Failed",)),)
    assert model.cancel_events == ()
