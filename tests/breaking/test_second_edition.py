"""The breaking rules of the second edition: data fields, signals, the order of guards.

Each case edits ``BASE``, a model built by hand, into a new version and
lists what ``compare`` reports: the rule id, the file it points into, and
the message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from pmc.diagnostics import BREAKING_RULES as RULES
from pmc.diagnostics import Severity
from pmc.semantics.model import (
    AllFinalCondition,
    BinaryExpr,
    BinaryOp,
    DataFieldExpr,
    DataScope,
    EmitModel,
    EventFieldExpr,
    EventModel,
    FieldModel,
    KeyModel,
    ListType,
    LiteralExpr,
    MachineModel,
    OptionalType,
    Outcome,
    OutcomeTriggerModel,
    Primitive,
    PrimitiveType,
    ProcessModel,
    RunModel,
    SignalModel,
    SignalTriggerModel,
    TaskMode,
    TaskModel,
    TransitionModel,
    ValueType,
)
from pmc.tools.breaking import Side, compare
from tests.breaking.helpers import edited, findings_between
from tests.cli.conftest import PmcRunner

STR = PrimitiveType(Primitive.STR)
INT = PrimitiveType(Primitive.INT)
OLD, NEW = Side.OLD, Side.NEW

HARD = TransitionModel(
    "hard_decline",
    ("Charging",),
    "Suspended",
    OutcomeTriggerModel("Charge", Outcome.FAILED),
    None,
    guard=BinaryExpr(BinaryOp.EQ, EventFieldExpr("reason"), LiteralExpr("hard")),
    emits=(EmitModel("Stop", ()),),
)
RETRY = TransitionModel(
    "retry_later",
    ("Charging",),
    "Charging",
    OutcomeTriggerModel("Charge", Outcome.FAILED),
    RunModel("Charge", ()),
    guard=BinaryExpr(BinaryOp.LT, DataFieldExpr(DataScope.DATA, "declines"), LiteralExpr(3)),
)
GIVE_UP = TransitionModel(
    "give_up", ("Charging",), "Suspended", OutcomeTriggerModel("Charge", Outcome.FAILED), None
)
PAID = TransitionModel(
    "paid", ("Charging",), "Paid", OutcomeTriggerModel("Charge", Outcome.COMPLETED), None
)
STOPPED = TransitionModel("stopped", ("Charging",), "Suspended", SignalTriggerModel("Stop"), None)

BASE = ProcessModel(
    name="Dunning",
    key=KeyModel("invoice_id", STR),
    events=(EventModel("Due", (FieldModel("invoice_id", STR),)),),
    tasks=(TaskModel("Charge", TaskMode.ASYNC, (), (), None, None),),
    machines=(
        MachineModel(
            name="Invoice",
            states=("Charging", "Paid", "Suspended"),
            initial="Charging",
            final=("Paid", "Suspended"),
            multi_instance=False,
            transitions=(HARD, RETRY, GIVE_UP, PAID, STOPPED),
            data=(FieldModel("attempts", INT, True, 0),),
        ),
    ),
    start_events=None,
    complete_when=(AllFinalCondition("Invoice"),),
    fail_when=(),
    cancel_events=(),
    data=(
        FieldModel("declines", INT, True, 0),
        FieldModel("reasons", ListType(STR), True, None),
        FieldModel("note", OptionalType(STR), True, None),
    ),
    signals=(SignalModel("Stop", (FieldModel("why", STR, True, ""),)),),
)


def with_data(*fields: FieldModel) -> ProcessModel:
    return replace(BASE, data=fields)


def with_machine(**changes: object) -> ProcessModel:
    [machine] = BASE.machines
    return replace(BASE, machines=(replace(machine, **changes),))


def retyped(name: str, value_type: ValueType, default: object = None) -> ProcessModel:
    return with_data(
        *(replace(f, type=value_type, default=default) if f.name == name else f for f in BASE.data)
    )


Found = tuple[str, Side, str]


@dataclass(frozen=True)
class Case:
    id: str
    new: ProcessModel
    expected: list[Found]
    old: ProcessModel = BASE


CASES = [
    Case(
        "process data field removed",
        with_data(*BASE.data[1:]),
        [("DATA_FIELD_NO_DELETE", OLD, "data field `declines` was removed from the process")],
    ),
    Case(
        "machine data field removed",
        with_machine(data=()),
        [
            (
                "DATA_FIELD_NO_DELETE",
                OLD,
                "data field `attempts` was removed from machine `Invoice`",
            )
        ],
    ),
    Case(
        "data field retyped",
        retyped("declines", STR, "0"),
        [
            (
                "DATA_FIELD_SAME_TYPE",
                NEW,
                "data field `declines` of the process changed type from `int` to `str`",
            ),
            (
                "DATA_DEFAULT_SAME",
                NEW,
                'the default of data field `declines` of the process changed from `0` to `"0"`',
            ),
        ],
    ),
    Case(
        "data field narrowed from optional",
        retyped("note", STR, ""),
        [
            (
                "DATA_FIELD_SAME_TYPE",
                NEW,
                "data field `note` of the process changed type from `str | None` to `str`",
            ),
            (
                "DATA_DEFAULT_SAME",
                NEW,
                'the default of data field `note` of the process changed from `none` to `""`',
            ),
        ],
    ),
    Case(
        "data field widened to optional: fine",
        retyped("declines", OptionalType(INT), 0),
        [],
    ),
    Case(
        "machine data default changed",
        with_machine(data=(FieldModel("attempts", INT, True, 1),)),
        [
            (
                "DATA_DEFAULT_SAME",
                NEW,
                "the default of data field `attempts` of machine `Invoice` changed from `0` to `1`",
            )
        ],
    ),
    Case(
        "data field added: fine, it has a default",
        with_data(*BASE.data, FieldModel("extra", INT, True, 7)),
        [],
    ),
    Case(
        "signal removed",
        replace(BASE, signals=()),
        [("SIGNAL_NO_DELETE", OLD, "signal `Stop` was removed")],
    ),
    Case(
        "signal field removed",
        replace(BASE, signals=(SignalModel("Stop", ()),)),
        [("FIELD_NO_DELETE", OLD, "field `why` was removed from signal `Stop`")],
    ),
    Case(
        "signal field retyped",
        replace(BASE, signals=(SignalModel("Stop", (FieldModel("why", INT, True, 0),)),)),
        [
            (
                "FIELD_SAME_TYPE",
                NEW,
                "field `why` of signal `Stop` changed type from `str` to `int`",
            )
        ],
    ),
    Case(
        "required signal field added",
        replace(
            BASE,
            signals=(SignalModel("Stop", (*BASE.signals[0].fields, FieldModel("by", STR))),),
        ),
        [
            (
                "FIELD_NO_ADD_REQUIRED",
                NEW,
                "field `by` was added to signal `Stop` without a default",
            )
        ],
    ),
    Case(
        "signal added: fine",
        replace(BASE, signals=(*BASE.signals, SignalModel("Resume", ()))),
        [],
    ),
    Case(
        "guarded transitions swapped",
        with_machine(transitions=(RETRY, HARD, GIVE_UP, PAID, STOPPED)),
        [
            (
                "GUARD_ORDER_SAME",
                NEW,
                "in state `Charging` of machine `Invoice`, transitions are now tried in the "
                "order `retry_later`, `hard_decline`, `give_up`, "
                "not `hard_decline`, `retry_later`, `give_up`",
            )
        ],
    ),
    Case(
        "a guard added, changed or removed: fine",
        with_machine(
            transitions=(
                replace(HARD, guard=None),
                replace(RETRY, guard=LiteralExpr(True)),
                replace(GIVE_UP, guard=LiteralExpr(False)),
                PAID,
                STOPPED,
            )
        ),
        [],
    ),
    Case(
        # The others keep their order, but `fraud` is now asked first.
        "a guarded transition added in front",
        with_machine(
            transitions=(replace(HARD, name="fraud"), HARD, RETRY, GIVE_UP, PAID, STOPPED)
        ),
        [
            (
                "GUARD_ORDER_SAME",
                NEW,
                "in state `Charging` of machine `Invoice`, the new transition `fraud` "
                "is tried before `hard_decline`",
            )
        ],
    ),
    Case(
        # Where neither guard held, `give_up` was taken; now `fraud` may be.
        "a guarded transition inserted before the fallback",
        with_machine(
            transitions=(HARD, RETRY, replace(HARD, name="fraud"), GIVE_UP, PAID, STOPPED)
        ),
        [
            (
                "GUARD_ORDER_SAME",
                NEW,
                "in state `Charging` of machine `Invoice`, the new transition `fraud` "
                "is tried before `give_up`",
            )
        ],
    ),
    Case(
        "a transition added after the others of its state and trigger: fine",
        with_machine(
            transitions=(HARD, RETRY, GIVE_UP, replace(GIVE_UP, name="late"), PAID, STOPPED)
        ),
        [],
    ),
    Case(
        "transitions on other triggers reordered: fine",
        with_machine(transitions=(STOPPED, PAID, HARD, RETRY, GIVE_UP)),
        [],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule(case: Case) -> None:
    found = [(f.diagnostic.id, f.side, f.diagnostic.message) for f in compare(case.old, case.new)]
    assert found == case.expected


def test_a_swap_seen_from_several_states_is_reported_once() -> None:
    both = (
        replace(HARD, sources=("Charging", "Paid")),
        replace(RETRY, sources=("Charging", "Paid")),
    )
    old = with_machine(transitions=(*both, GIVE_UP, PAID, STOPPED), final=("Suspended",))
    new = with_machine(transitions=(both[1], both[0], GIVE_UP, PAID, STOPPED), final=("Suspended",))
    assert [f.diagnostic.id for f in compare(old, new)] == ["GUARD_ORDER_SAME"]


def test_a_transition_inserted_in_several_states_is_reported_once() -> None:
    both = (
        replace(HARD, sources=("Charging", "Paid")),
        replace(GIVE_UP, sources=("Charging", "Paid")),
    )
    old = with_machine(transitions=(*both, PAID, STOPPED), final=("Suspended",))
    fraud = replace(both[0], name="fraud")
    new = with_machine(transitions=(fraud, *both, PAID, STOPPED), final=("Suspended",))
    assert [f.diagnostic.id for f in compare(old, new)] == ["GUARD_ORDER_SAME"]


def test_data_and_guard_warnings_do_not_fail_without_strict() -> None:
    warnings = {code for code, rule in RULES.items() if rule.severity is Severity.WARNING}
    assert {"DATA_DEFAULT_SAME", "GUARD_ORDER_SAME"} <= warnings
    for rule in ("DATA_FIELD_NO_DELETE", "DATA_FIELD_SAME_TYPE", "SIGNAL_NO_DELETE"):
        assert RULES[rule].severity is Severity.ERROR


def test_removals_are_anchored_in_the_new_version() -> None:
    for case in CASES:
        for finding in compare(case.old, case.new):
            assert (finding.anchor is not None) == (finding.side is OLD), case.id


COVERED = {code for case in CASES for code, _, _ in case.expected}


# ---- two versions of a `.pm` file ------------------------------------------------------

TRIP = (Path(__file__).parents[1] / "graph" / "fixtures" / "second_edition.pm").read_text("utf-8")


HARD_DECLINE = """        transition hard_decline: Booking -> Failed on BookHotel failed
            when event.reason == "say \\"no\\"; --> [*] #58;"
            emit Abort(reason = event.reason)
"""


OLD_TRIP = edited(
    TRIP,
    ("        cars: list[str]\n    }", '        cars: list[str]\n        note: str = ""\n    }'),
    ("    signal Release { car: str }", "    signal Release { car: str  extra: int = 0 }"),
    ("    task BookHotel", "    signal Ping {}\n\n    task BookHotel"),
)
NEW_TRIP = edited(
    TRIP,
    ("holds: int = 0", "holds: int = 1"),
    (HARD_DECLINE, ""),
    ("        transition give_up:", HARD_DECLINE + "        transition give_up:"),
)


def test_two_versions_of_a_file_using_every_construct() -> None:
    assert findings_between(OLD_TRIP, NEW_TRIP) == [
        ("DATA_FIELD_NO_DELETE", OLD, 'note: str = ""'),
        ("FIELD_NO_DELETE", OLD, "extra: int = 0"),
        ("SIGNAL_NO_DELETE", OLD, "Ping"),
        # Machine by machine: Hotel, then Car.
        ("GUARD_ORDER_SAME", NEW, "retry"),
        ("DATA_DEFAULT_SAME", NEW, "holds: int = 1"),
    ]


def test_the_report_explains_each_finding(
    cli: PmcRunner, tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    (tmp_path / "old.pm").write_text(OLD_TRIP, encoding="utf-8")
    (tmp_path / "new.pm").write_text(NEW_TRIP, encoding="utf-8")
    run = cli("breaking", "new.pm", "--against", "old.pm")
    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == snapshot
