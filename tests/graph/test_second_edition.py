"""Second-edition clauses on edges, and the legend of signals.

The model is built by hand: a booking that remembers its offer, gives up
after a hard decline, keeps the hotel booking in flight when the traveller
aborts, and tells the car machine (of many instances) to stand down.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from pmc.semantics.model import (
    AllFinalCondition,
    AssignmentModel,
    BinaryExpr,
    BinaryOp,
    BindingModel,
    DataFieldExpr,
    DataScope,
    DeadlineTriggerModel,
    EmitModel,
    EventFieldExpr,
    EventModel,
    EventTriggerModel,
    FieldModel,
    KeyModel,
    LiteralExpr,
    MachineModel,
    Outcome,
    OutcomeTriggerModel,
    Primitive,
    PrimitiveType,
    ProcessModel,
    RunModel,
    SelectorTriggerModel,
    SignalModel,
    SignalTriggerModel,
    TaskMode,
    TaskModel,
    TransitionModel,
)
from pmc.tools.graph import render_dot, render_mermaid
from tests.graph.helpers import model_of
from tests.graph.test_escaping import _mermaid_decoded

STR = PrimitiveType(Primitive.STR)
INT = PrimitiveType(Primitive.INT)


def _booking() -> MachineModel:
    failed = OutcomeTriggerModel("BookHotel", Outcome.FAILED)
    return MachineModel(
        name="Booking",
        states=("Booking", "Booked", "Aborting", "Failed"),
        initial="Booking",
        final=("Booked", "Failed"),
        multi_instance=False,
        transitions=(
            TransitionModel(
                "booked",
                ("Booking",),
                "Booked",
                OutcomeTriggerModel("BookHotel", Outcome.COMPLETED),
                None,
                sets=(
                    AssignmentModel(DataScope.DATA, "offer", EventFieldExpr("offer")),
                    AssignmentModel(
                        DataScope.DATA,
                        "tries",
                        BinaryExpr(
                            BinaryOp.ADD, DataFieldExpr(DataScope.DATA, "tries"), LiteralExpr(1)
                        ),
                    ),
                ),
            ),
            TransitionModel(
                "hard_decline",
                ("Booking",),
                "Failed",
                failed,
                None,
                guard=BinaryExpr(BinaryOp.EQ, EventFieldExpr("reason"), LiteralExpr("hard")),
                emits=(EmitModel("Abort", (BindingModel("reason", EventFieldExpr("reason")),)),),
            ),
            TransitionModel("gave_up", ("Booking",), "Failed", failed, None),
            TransitionModel(
                "abort",
                ("Booking",),
                "Aborting",
                EventTriggerModel("Aborted"),
                RunModel("Notify", ()),
                keep=("BookHotel",),
                emits=(EmitModel("Abort", ()), EmitModel("Audit", ())),
            ),
            TransitionModel(
                "expired",
                ("Aborting",),
                "Failed",
                DeadlineTriggerModel(DataScope.DATA, "hold_until"),
                None,
            ),
        ),
    )


def _car() -> MachineModel:
    return MachineModel(
        name="Car",
        states=("Held", "Released"),
        initial="Held",
        final=("Released",),
        multi_instance=True,
        transitions=(
            TransitionModel(
                "hold", ("Held",), "Held", SelectorTriggerModel("Hold", "cars", True), None
            ),
            TransitionModel("release", ("Held",), "Released", SignalTriggerModel("Abort"), None),
            TransitionModel(
                "release_one",
                ("Held",),
                "Released",
                SignalTriggerModel("Audit", "car", False),
                None,
            ),
        ),
        data=(FieldModel("attempts", INT, True, 0),),
    )


MODEL = ProcessModel(
    name="Trip",
    key=KeyModel("trip_id", STR),
    events=(
        EventModel("Aborted", (FieldModel("trip_id", STR),)),
        EventModel("Hold", (FieldModel("trip_id", STR),)),
    ),
    tasks=(
        TaskModel("BookHotel", TaskMode.ASYNC, (), (), None, None),
        TaskModel("Notify", TaskMode.SYNC, (), (), None, None),
    ),
    machines=(_booking(), _car()),
    start_events=None,
    complete_when=(AllFinalCondition("Booking"), AllFinalCondition("Car")),
    fail_when=(),
    cancel_events=(),
    data=(FieldModel("offer", STR, True, ""), FieldModel("tries", INT, True, 0)),
    signals=(
        SignalModel("Abort", (FieldModel("reason", STR, True, ""),)),
        SignalModel("Audit", (FieldModel("car", STR, True, ""),)),
        SignalModel("Unused", ()),
    ),
)


@pytest.fixture(scope="module")
def mermaid() -> str:
    return render_mermaid(MODEL)


@pytest.fixture(scope="module")
def dot() -> str:
    return render_dot(MODEL)


def test_a_guard_follows_the_trigger_in_brackets(dot: str) -> None:
    assert '[label="hard_decline: BookHotel failed [event.reason == \\"hard\\"] emit Abort"]' in dot
    # The fallback after it has no guard.
    assert '[label="gave_up: BookHotel failed"]' in dot


def test_clauses_follow_in_pm_order_and_name_what_they_touch(dot: str) -> None:
    # when, keep, run, set, emit; `set` names the fields, not the values.
    assert '[label="abort: Aborted keep BookHotel / run Notify (sync) emit Abort, Audit"]' in dot
    assert '[label="booked: BookHotel completed set data.offer, data.tries"]' in dot


def test_mermaid_escapes_brackets_and_quotes_of_a_guard(mermaid: str) -> None:
    assert (
        "m0_s0 --> m0_s3 : hard_decline#58; BookHotel failed"
        " #91;event.reason == #34;hard#34;#93; emit Abort\n"
    ) in mermaid


def test_a_deadline_is_a_timer(mermaid: str, dot: str) -> None:
    assert "m0_s2 --> m0_s3 : expired#58; \u23f1 at data.hold_until\n" in mermaid
    assert '"m0_s2" -> "m0_s3" [style=dashed, label="expired: at data.hold_until"];' in dot


def test_signal_triggers_are_marked_in_mermaid_and_dotted_in_dot(mermaid: str, dot: str) -> None:
    # `on Abort` on a machine of many instances reaches all of them.
    assert "m1_s0 --> m1_s1 : release#58; \u26a1 Abort (all)\n" in mermaid
    assert "m1_s0 --> m1_s1 : release_one#58; \u26a1 Audit.car\n" in mermaid
    assert '"m1_s0" -> "m1_s1" [style=dotted, label="release: Abort (all)"];' in dot
    assert dot.count("style=dotted") == 2


def test_the_legend_names_who_emits_and_who_handles_each_signal(mermaid: str, dot: str) -> None:
    assert mermaid.endswith(
        '    state "\u26a1 signals" as signals {\n'
        '        state "Abort#58; emitted by Booking.hard_decline, Booking.abort#59;'
        ' handled by Car.release" as sig0\n'
        '        state "Audit#58; emitted by Booking.abort#59;'
        ' handled by Car.release_one" as sig1\n'
        '        state "Unused#58; never emitted#59; never handled" as sig2\n'
        "    }\n"
    )
    assert (
        '    subgraph "cluster_signals" {\n'
        '        label="\u26a1 signals";\n'
        '        "sig0" [shape=note, style=solid, label="Abort: emitted by Booking.hard_decline,'
        ' Booking.abort; handled by Car.release"];\n'
    ) in dot


def test_one_machine_drawn_alone_lists_only_the_signals_it_touches() -> None:
    text = render_mermaid(MODEL, machine="Car")
    assert "as sig0\n" in text
    assert "as sig1\n" in text
    assert "Unused" not in text


def test_a_process_without_signals_draws_no_legend() -> None:
    assert "signals" not in render_dot(replace(MODEL, signals=()))
    assert "signals" not in render_mermaid(replace(MODEL, signals=()))


# ---- from a `.pm` file ---------------------------------------------------------------

FIXTURE = Path(__file__).parent / "fixtures" / "second_edition.pm"


@pytest.fixture(scope="module")
def trip() -> ProcessModel:
    return model_of(FIXTURE.read_text(encoding="utf-8"), "second_edition.pm")


@pytest.mark.parametrize("render", [render_mermaid, render_dot], ids=["mermaid", "dot"])
def test_a_process_using_every_construct_draws_as_recorded(
    trip: ProcessModel, render: Callable[[ProcessModel], str], snapshot: SnapshotAssertion
) -> None:
    assert render(trip) == snapshot


def test_a_string_literal_in_a_guard_reads_back_as_written(trip: ProcessModel) -> None:
    """Quotes, `;`, `-->`, `[*]` and `#58;` in a literal: escaped, then shown verbatim."""
    written = 'event.reason == "say \\"no\\"; --> [*] #58;"'
    [line] = [line for line in render_mermaid(trip).split("\n") if ": hard_decline" in line]
    label = line.split(" : ", 1)[1]
    assert _mermaid_decoded(label) == f"hard_decline: BookHotel failed [{written}] emit Abort"
    assert f'label="hard_decline: BookHotel failed [{_dot_escaped(written)}] emit Abort"' in (
        render_dot(trip)
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_draws_it_without_a_warning(trip: ProcessModel) -> None:
    completed = subprocess.run(
        ["dot", "-Tsvg"], input=render_dot(trip), capture_output=True, text=True, timeout=60
    )
    assert (completed.returncode, completed.stderr) == (0, "")
    shown = html.unescape(completed.stdout)
    assert ">Release: emitted by Hotel.confirm; handled by Car.release_one</text>" in shown
    assert '[event.reason == "say \\"no\\"; --> [*] #58;"]' in shown


def _dot_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
