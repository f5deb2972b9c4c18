"""The second edition's checks and model: data, expressions, guards, keep, set, signals.

Each test states one rule on a small process; ``machine_process`` (see
helpers) declares events ``Go``/``Stop``, tasks ``Work``/``Check`` and a
machine ``M`` around the lines given.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pmc.semantics.model import (
    AssignmentModel,
    BinaryExpr,
    BinaryOp,
    DataFieldExpr,
    DataScope,
    DeadlineTriggerModel,
    EmitModel,
    EventFieldExpr,
    IsNoneExpr,
    ListType,
    LiteralExpr,
    OptionalType,
    Primitive,
    PrimitiveType,
    SignalTriggerModel,
    TransitionModel,
)
from tests.semantics.helpers import analyze_text, codes, diagnostics, machine_process, only

FLOAT = PrimitiveType(Primitive.FLOAT)
DECIMAL = PrimitiveType(Primitive.DECIMAL)
INT = PrimitiveType(Primitive.INT)

DATA = """
    data {
        n: int = 0
        ratio: float = 0.5
        total: Decimal = 0
        label: str = ""
        flag: bool | None
        due: datetime | None
        names: list[str]
    }"""


def process(transitions: str, declarations: str = DATA, tail: str = "", states: str = "") -> str:
    """``M``: ``A -> B -> C`` (on ``Go``, then a timer), the transitions given; ``Done`` final."""
    return machine_process(
        f"""
        {states}
        states A, B, C, Done
        initial A
        final Done
        transition go: A -> B on Go
        transition wait: B -> C on after 1m
        transition stop: * -> Done on Stop
{transitions}""",
        declarations=declarations,
        tail=tail,
    )


def transition(text: str, name: str, declarations: str = DATA) -> TransitionModel:
    model = analyze_text(process(text, declarations)).model
    assert model is not None, [(d.id, d.message) for d in diagnostics(process(text, declarations))]
    return next(t for t in model.machine("M").transitions if t.name == name)


def errors(text: str) -> list[str]:
    return [d.id for d in diagnostics(text) if d.severity == "error"]


def guard_error(condition: str, declarations: str = DATA) -> list[str]:
    return errors(process(f"        transition t: B -> C on Go when {condition}", declarations))


# ---- data ---------------------------------------------------------------------------


def test_every_data_field_gets_its_default() -> None:
    model = analyze_text(process("")).model
    assert model is not None
    defaults = {f.name: (f.has_default, f.default) for f in model.data}
    assert defaults["n"] == (True, 0)
    assert defaults["total"] == (True, Decimal(0))  # an integer literal for a Decimal
    assert defaults["flag"] == (True, None)  # `T | None`: none
    assert defaults["names"] == (True, None)  # a list: empty (codegen's default_factory)


def test_a_field_without_a_natural_default_is_an_error() -> None:
    diagnostic = only(process("", declarations="    data { since: datetime }"), "PM0310")
    assert "`since: datetime | None`" in (diagnostic.help or "")
    assert "= 0" in (only(process("", "    data { n: int }"), "PM0310").help or "")


def test_a_machine_data_block_is_the_instance_record() -> None:
    text = process(
        "        transition t: B -> C on Go set instance.tries = instance.tries + 1",
        states="data { tries: int = 0 }",
    )
    model = analyze_text(text).model
    assert model is not None
    assert [f.name for f in model.machine("M").data] == ["tries"]


def test_instance_fields_of_a_machine_without_data_are_unknown() -> None:
    diagnostic = only(process("        transition t: B -> C on Go when instance.n > 0"), "PM0207")
    assert diagnostic.label == "machine `M` declares no `data`"


def test_unknown_data_field_suggests_a_name() -> None:
    diagnostic = only(
        process("        transition t: B -> C on Go when data.ration > 0.1"), "PM0207"
    )
    assert diagnostic.help == "did you mean `ratio`?"


def test_data_field_names_are_checked_like_other_fields() -> None:
    assert "PM0105" in codes(process("", declarations="    data { model_x: int = 0 }"))


# ---- expressions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        "data.n + 1 > data.ratio",  # int mixes with float
        "data.total - 1 >= 0.5",  # and with Decimal; a decimal literal too
        'data.label + "x" == "x"',
        "data.flag == true",  # `T | None` with `T`
        "data.due is none or data.due == none",
        '"a" in data.names and "b" not in data.names',
        "len(data.names) > 0 and len(data.label) == 0",
        "not (event.count == 1) and key != machine_id",
    ],
)
def test_well_typed_conditions(condition: str) -> None:
    assert guard_error(condition) == []


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("data.ratio < data.total", "`<` does not apply to `float` and `Decimal`"),
        ("len(data.n) > 0", "`len` does not apply to `int`"),
        ("data.flag and true", "`and` needs `bool` operands, not `bool | None`"),
        ("data.n + true == 1", "`+` does not apply to `int` and `bool`"),
        ('data.n == "1"', "`==` does not apply to `int` and `str`"),
        ("data.n is none", "this value is never none: it is `int`"),
        ("data.n == none", "this value is never none: it is `int`"),
        ("data.n in data.label", "`in` needs a list on its right, not `str`"),
        ("data.n in data.names", "`in` does not apply to `int` and `list[str]`"),
        ("data.due < data.due", "`<` does not apply to `datetime | None` and `datetime | None`"),
    ],
)
def test_operators_on_the_wrong_types(condition: str, message: str) -> None:
    assert (
        only(process(f"        transition t: B -> C on Go when {condition}"), "PM0506").message
        == message
    )


TICK = "\n    event Tick { id: str  at: datetime  note: str | None = none }"


@pytest.mark.parametrize(
    "condition",
    [
        "data.due is not none and data.due < event.at",
        "data.due == none or data.due < event.at",  # in `A or B`, B runs when A is false
        "not (data.due is none) and data.due < event.at",
        "data.n > 0 and (data.due != none and data.flag == true) and event.at >= data.due",
        "event.note is not none and len(event.note) > 0",
        "data.due is none or data.due is none",  # redundant, not wrong
    ],
)
def test_a_none_test_narrows_the_rest_of_its_and_or_or(condition: str) -> None:
    text = process(f"        transition t: B -> C on Tick when {condition}", DATA + TICK)
    assert errors(text) == []


@pytest.mark.parametrize(
    "condition",
    [
        "data.due < event.at and data.due is not none",  # the test comes after
        "data.due is not none or data.due < event.at",  # B runs when `data.due` is none
        "(data.n > 0 or data.due is not none) and data.due < event.at",
        "not (data.due is not none and true) or data.due < event.at",  # not a test of a ref
    ],
)
def test_only_a_none_test_that_must_hold_narrows(condition: str) -> None:
    text = process(f"        transition t: B -> C on Tick when {condition}", DATA + TICK)
    diagnostic = only(text, "PM0506")
    assert diagnostic.message == "`<` does not apply to `datetime | None` and `datetime`"
    assert diagnostic.help == (
        "a value that may be none has no order: "
        "test it with `is not none and ...` in the same expression"
    )
    # The caret is on the value that may be none.
    span = diagnostic.span
    assert text.splitlines()[span.line - 1][span.column - 1 : span.end_column - 1] == "data.due"


def test_one_mistake_in_an_expression_is_reported_once() -> None:
    # The comparison is still a `bool`: no PM0507 as well; an unknown field
    # makes no operator around it wrong.
    assert guard_error('data.n == "1"') == ["PM0506"]
    assert guard_error("data.nn + 1 > 2 and data.nn") == ["PM0207", "PM0207"]


def test_a_guard_must_be_a_bool() -> None:
    assert only(process("        transition t: B -> C on Go when data.n"), "PM0507").message == (
        "the guard is `int`, not a `bool`"
    )
    assert "== true" in (
        only(process("        transition t: B -> C on Go when data.flag"), "PM0507").help or ""
    )


def test_a_decimal_literal_takes_the_type_it_meets() -> None:
    t = transition(
        "        transition t: B -> C on Go when data.ratio < 0.25"
        " set data.total = data.total + 1.5",
        "t",
    )
    assert isinstance(t.guard, BinaryExpr)
    assert t.guard.right == LiteralExpr(Decimal("0.25")) and t.guard.right.type == FLOAT
    [assignment] = t.sets
    assert isinstance(assignment.value, BinaryExpr) and assignment.value.right.type == DECIMAL


def test_a_decimal_number_is_not_an_int() -> None:
    diagnostic = only(process("        transition t: B -> C on Go set data.n = 1.5 + 1"), "PM0508")
    assert (
        diagnostic.message == "`data.n` is `int`, but the value assigned to it is a decimal number"
    )


def test_comparing_with_none_is_a_none_test() -> None:
    t = transition("        transition t: B -> C on Go when data.due != none", "t")
    assert t.guard == IsNoneExpr(DataFieldExpr(DataScope.DATA, "due"), negated=True)


def test_a_very_long_expression_is_checked_without_recursion() -> None:
    # Checked in a loop, and refused with a diagnostic rather than a crash:
    # Python nests a sum a level per operator, and could not compile this one.
    total = " + ".join(["data.n"] * 3000)
    assert guard_error(f"{total} > 0") == ["PM0005"]
    conjunction = " and ".join(["data.n > 0"] * 3000)
    assert guard_error(conjunction) == []


# ---- guards ---------------------------------------------------------------------------


def test_guarded_transitions_on_one_trigger_are_not_nondeterministic() -> None:
    text = process(
        """        transition low: B -> C on Go when data.n < 3
        transition high: B -> Done on Go when data.n >= 3
        transition other: B -> C on Go"""
    )
    assert errors(text) == []


def test_two_unguarded_transitions_still_conflict() -> None:
    text = process(
        """        transition one: B -> C on Go when data.n < 3
        transition two: B -> C on Go
        transition three: B -> Done on Go"""
    )
    assert errors(text) == ["PM0403"]


def test_a_guarded_transition_after_an_unguarded_one_is_never_taken() -> None:
    text = process(
        """        transition always: B -> C on Go
        transition never: B -> Done on Go when data.n < 3"""
    )
    diagnostic = only(text, "PM0408")
    assert diagnostic.message.startswith("transition `never` can never be taken in `B`")


def test_a_guarded_transition_after_a_wildcard_is_never_taken() -> None:
    text = process("        transition late: B -> Done on Stop when data.n > 1")
    assert only(text, "PM0408").notes[-1] == "`*` stands for every non-final state"


def test_only_guarded_transitions_on_an_outcome_are_a_warning() -> None:
    text = process(
        """        transition run: B -> C on Go run Work()
        transition ok: C -> Done on Work completed when event.done > 0
        transition failed: C -> Done on Work failed"""
    )
    diagnostic = only(text, "PM0905")
    assert diagnostic.severity == "warning"
    assert analyze_text(text).model is not None  # a warning keeps the model
    fallback = text.replace(
        "transition failed:",
        "transition zero: C -> B on Work completed\n        transition failed:",
    )
    assert "PM0905" not in codes(fallback)


def waiting(exits: str) -> str:
    """``M``: ``A -> Waiting`` on ``Go``, then only the exits given."""
    machine = """
        states A, Waiting, Done
        initial A
        final Done
        transition go: A -> Waiting on Go
"""
    return machine_process(machine + exits, DATA)


@pytest.mark.parametrize(
    ("exits", "message", "note"),
    [
        (
            "        transition retry: Waiting -> Done on after 1d when data.n > 0",
            "every transition on `after 1d` in `Waiting` has a guard",
            "the timer fires for nothing",
        ),
        (
            "        transition lapse: Waiting -> Done on at data.due when data.n > 0\n"
            "        transition late: Waiting -> Done on at data.due when data.n < 0",
            "every transition on `at data.due` in `Waiting` has a guard",
            "the deadline fires for nothing",
        ),
    ],
)
def test_a_state_left_only_by_guarded_timers_is_a_warning(
    exits: str, message: str, note: str
) -> None:
    diagnostic = only(waiting(exits), "PM0905")
    assert diagnostic.message == message
    assert note in diagnostic.notes[0]


@pytest.mark.parametrize(
    "other_exit",
    [
        "transition give_up: Waiting -> Done on after 1d",  # a fallback on the timer
        "transition later: Waiting -> Done on after 2d",  # a timer without a guard
        "transition stop: Waiting -> Done on Stop",  # an event still moves it on
    ],
)
def test_a_guarded_timer_with_another_way_out_is_fine(other_exit: str) -> None:
    retry = "transition retry: Waiting -> Done on after 1d when data.n > 0"
    exits = f"        {retry}\n        {other_exit}"
    assert "PM0905" not in codes(waiting(exits))


# ---- keep ----------------------------------------------------------------------------------


KEEP = """        transition run: B -> C on Go run Work()
        transition ok: C -> Done on Work completed
        transition failed: C -> Done on Work failed
        transition abort: C -> Waiting on Stop keep Work
        transition late_ok: Waiting -> Done on Work completed
        transition late_failed: Waiting -> Done on Work failed"""


def test_keep_reaches_the_model_and_carries_the_outcomes() -> None:
    text = process(KEEP, states="states Waiting").replace(
        "transition stop: * -> Done on Stop\n", ""
    )
    assert errors(text) == []
    model = analyze_text(text).model
    assert model is not None
    assert next(t for t in model.machine("M").transitions if t.name == "abort").keep == ("Work",)


def test_a_kept_task_must_be_handled_in_the_target_state() -> None:
    text = process(
        KEEP.replace("        transition late_failed: Waiting -> Done on Work failed", ""),
        states="states Waiting",
    ).replace("transition stop: * -> Done on Stop\n", "")
    diagnostic = only(text, "PM0404")
    assert diagnostic.message == "state `Waiting` does not handle `Work failed`"
    assert diagnostic.label == "`Work` stays in flight on entering `Waiting`"


def test_keeping_a_task_that_is_not_running_is_an_error() -> None:
    text = process("        transition k: B -> C on Go keep Work")
    assert errors(text) == ["PM0312"]


def test_an_unknown_kept_task_leaves_the_other_keeps_checked() -> None:
    # `Nope` could be any task, so `Waiting` may hold more in flight than the
    # graph shows; `k` keeps `Work` from `A`, where it never runs.
    text = process(
        KEEP.replace("keep Work", "keep Work, Nope")
        + "\n        transition k: A -> B on Stop keep Work",
        states="states Waiting",
    ).replace("transition stop: * -> Done on Stop\n", "")
    assert errors(text) == ["PM0202", "PM0312"]
    assert only(text, "PM0312").message == (
        "transition `k` keeps `Work`, which is never in flight in `A`"
    )


def test_keep_on_a_wildcard_needs_the_task_in_one_of_its_states() -> None:
    text = process(
        """        transition run: B -> C on Go run Work()
        transition ok: C -> Done on Work completed
        transition failed: C -> Done on Work failed""",
    ).replace("transition stop: * -> Done on Stop", "transition stop: * -> Done on Stop keep Work")
    assert "PM0312" not in codes(text)


# ---- set and deadlines ------------------------------------------------------------------------


def test_assignments_reach_the_model_with_their_source_type() -> None:
    t = transition(
        "        transition t: B -> C on Go set data.total = event.count, data.n = 1", "t"
    )
    assert t.sets == (
        AssignmentModel(DataScope.DATA, "total", EventFieldExpr("count")),
        AssignmentModel(DataScope.DATA, "n", LiteralExpr(1)),
    )
    assert t.sets[0].source_type == INT  # codegen converts an int into a Decimal


def test_assigned_values_must_fit() -> None:
    text = process("        transition t: B -> C on Go set data.label = event.note")
    diagnostic = only(text, "PM0508")
    assert (
        diagnostic.message == "`data.label` is `str`, but the value assigned to it is `str | None`"
    )
    assert diagnostic.help is not None and "`str | None`" in diagnostic.help
    assert errors(process("        transition t: B -> C on Go set data.n = 1.5")) == ["PM0508"]


def test_a_field_is_assigned_once_per_set() -> None:
    assert errors(process("        transition t: B -> C on Go set data.n = 1, data.n = 2")) == [
        "PM0107"
    ]


def test_a_deadline_is_a_datetime_field() -> None:
    t = transition("        transition t: B -> C on at data.due", "t")
    assert t.trigger == DeadlineTriggerModel(DataScope.DATA, "due")
    assert errors(process("        transition t: B -> C on at data.n")) == ["PM0509"]
    assert errors(process("        transition t: B -> C on at data.due when event.count > 1")) == [
        "PM0604"
    ]


# ---- data conditions -----------------------------------------------------------------------------


def test_data_conditions_reach_the_model() -> None:
    text = process(
        "", tail="    complete when all M final and data.n > 2\n    fail when data.n < 0"
    )
    model = analyze_text(text).model
    assert model is not None
    assert model.complete_data == BinaryExpr(
        BinaryOp.GT, DataFieldExpr(DataScope.DATA, "n"), LiteralExpr(2)
    )
    assert model.fail_data is not None and model.fail_when == ()


def test_a_data_condition_alone_replaces_the_default_completion() -> None:
    model = analyze_text(process("", tail="    complete when data.n > 2")).model
    assert model is not None and model.complete_when == ()


@pytest.mark.parametrize(
    "read", ["event.count > 1", "instance.n > 1", 'machine_id == "M"', 'key == "k"']
)
def test_data_conditions_read_only_data(read: str) -> None:
    diagnostic = only(process("", tail=f"    fail when {read}"), "PM0510")
    assert diagnostic.message.endswith("cannot be read in `fail when`")


def test_a_data_condition_must_be_a_bool() -> None:
    assert errors(process("", tail="    complete when data.n")) == ["PM0507"]


# ---- signals and emit --------------------------------------------------------------------------


SIGNALS = (
    DATA
    + """
    signal Abort { reason: str  code: int = 0 }"""
)


def test_signal_triggers_and_emits_reach_the_model() -> None:
    text = process(
        """        transition fire: B -> C on Go emit Abort(reason = "x" + event.id)
        transition abort: C -> Done on Abort""",
        SIGNALS,
    )
    model = analyze_text(text).model
    assert model is not None, diagnostics(text)
    machine = model.machine("M")
    raising = next(t for t in machine.transitions if t.name == "fire")
    assert raising.emits == (EmitModel("Abort", (raising.emits[0].bindings[0],)),)
    assert next(t for t in machine.transitions if t.name == "abort").trigger == SignalTriggerModel(
        "Abort"
    )
    assert [s.name for s in model.signals] == ["Abort"]
    assert not machine.multi_instance


def test_a_signal_selector_makes_a_machine_many_instanced() -> None:
    text = process(
        """        transition fire: B -> C on Go emit Abort(reason = event.id)
        transition abort: C -> Done on Abort.reason""",
        SIGNALS,
    )
    model = analyze_text(text).model
    assert model is not None
    assert model.machine("M").multi_instance
    trigger = next(t for t in model.machine("M").transitions if t.name == "abort").trigger
    assert trigger == SignalTriggerModel("Abort", "reason", fan_out=False)


def test_emit_bindings_are_checked_like_task_bindings() -> None:
    def emit(bindings: str) -> str:
        return process(
            f"""        transition fire: B -> C on Go emit Abort({bindings})
        transition abort: C -> Done on Abort""",
            SIGNALS,
        )

    assert (
        only(emit('reason = "x", cause = 1'), "PM0601").message
        == "signal `Abort` has no field `cause`"
    )
    assert (
        only(emit("code = 1"), "PM0602").message
        == "`emit Abort` leaves required field `reason` unbound"
    )
    assert only(emit("reason = data.n"), "PM0603").message == (
        "`reason` is `str`, but the value bound to it is `int`"
    )


def test_unknown_signal() -> None:
    text = process('        transition fire: B -> C on Go emit Abrt(reason = "x")', SIGNALS)
    assert only(text, "PM0208").help == "did you mean `Abort`?"
    assert "`emit` raises a signal" in (
        only(process("        transition r: B -> C on Go emit Stop()"), "PM0208").help or ""
    )


def test_a_signal_cycle_is_reported_once_per_cycle() -> None:
    declarations = DATA + "\n    signal S1 {}\n    signal S2 {}\n    signal S3 {}"
    text = process(
        """        transition start: B -> C on Go emit S1()
        transition one: C -> C on S1 emit S2()
        transition two: C -> C on S2 emit S1()
        transition three: C -> Done on S3 emit S3()""",
        declarations,
    )
    cycles = [d for d in diagnostics(text) if d.id == "PM0311"]
    assert sorted(d.message for d in cycles) == [
        "signal `S3` raises itself",
        "signals raise each other in a cycle: `S1` -> `S2` -> `S1`",
    ]


def test_every_emit_inside_a_cycle_group_is_on_a_reported_cycle() -> None:
    # One group: `S2` raises `S1` and `S3`, each of which raises `S2` again, and
    # `S1` also raises itself. Fixing one cycle must not reveal another.
    declarations = DATA + "\n    signal S1 {}\n    signal S2 {}\n    signal S3 {}"
    text = process(
        """        transition start: B -> C on Go emit S1
        transition one: C -> C on S1 emit S2 emit S1
        transition two: C -> C on S2 emit S1 emit S3
        transition three: C -> C on S3 emit S2""",
        declarations,
    )
    # In the order of the emits that close them, as diagnostics are sorted.
    assert [d.message for d in diagnostics(text) if d.id == "PM0311"] == [
        "signal `S1` raises itself",
        "signals raise each other in a cycle: `S1` -> `S2` -> `S1`",
        "signals raise each other in a cycle: `S2` -> `S3` -> `S2`",
    ]


def test_the_cycles_of_one_group_are_capped() -> None:
    # `Hub` raises seven signals that each raise `Hub`: seven cycles, five reported.
    spokes = [f"S{i}" for i in range(7)]
    declarations = DATA + "".join(f"\n    signal {name} {{}}" for name in ["Hub", *spokes])
    text = process(
        "        transition start: B -> C on Go emit Hub\n"
        "        transition hub: C -> C on Hub "
        + " ".join(f"emit {name}" for name in spokes)
        + "".join(f"\n        transition t{name}: C -> C on {name} emit Hub" for name in spokes),
        declarations,
    )
    cycles = [d for d in diagnostics(text) if d.id == "PM0311"]
    assert [d.message for d in cycles] == [
        f"signals raise each other in a cycle: `Hub` -> `{name}` -> `Hub`" for name in spokes[:5]
    ]
    assert [any("more cycles" in note for note in d.notes) for d in cycles] == [False] * 4 + [True]


def test_unused_signals_are_warnings() -> None:
    declarations = DATA + "\n    signal Emitted {}\n    signal Handled {}\n    signal Idle {}"
    text = process(
        """        transition fire: B -> C on Go emit Emitted()
        transition handle: C -> Done on Handled""",
        declarations,
    )
    found = {(d.id, d.message) for d in diagnostics(text) if d.id in {"PM0906", "PM0907"}}
    assert found == {
        ("PM0906", "signal `Emitted` is never handled"),
        ("PM0906", "signal `Idle` is never handled"),
        ("PM0907", "signal `Handled` is handled but never emitted"),
    }


def test_a_signal_cannot_both_select_and_broadcast() -> None:
    text = process(
        """        transition fire: B -> C on Go emit Abort(reason = event.id)
        transition one: C -> Done on Abort.reason
        transition two: B -> Done on Abort""",
        SIGNALS,
    )
    assert "another signal" in (only(text, "PM0407").help or "")


def test_signals_share_the_namespace_and_the_generated_names() -> None:
    assert "PM0101" in codes(process("", DATA + "\n    signal Go {}"))
    assert "PM0701" in codes(process("", DATA + "\n    signal SignalRaised {}"))
    assert "PM0701" in codes(process("", DATA + "\n    signal PData {}"))
    assert "PM0105" in codes(process("", DATA + "\n    signal match {}"))


def test_a_duplicate_declaration_is_reported_once() -> None:
    # `on Go` names the event; the second `Go` is the mistake, not also a
    # signal never handled (PM0906), nor a task never run (PM0902).
    alone = codes(process(""))
    for duplicate in ("signal Go {}", "task Go {}"):
        assert sorted(codes(process("", f"{DATA}\n    {duplicate}"))) == sorted([*alone, "PM0101"])


def test_data_records_collide_with_declarations() -> None:
    assert "PM0701" in codes(process("", DATA + "\n    event PData { id: str }"))
    assert "PM0701" not in codes(
        process("", "\n    event PData { id: str }")
    )  # no data: no `PData`


def test_bindings_take_expressions() -> None:
    t = transition(
        """        transition t: B -> C on Go run Check(level = data.n + 1, label = data.label)
        transition checked: C -> Done on Check completed
        transition unchecked: C -> Done on Check failed""",
        "t",
    )
    assert t.run is not None
    level = t.run.bindings[0]
    assert level.value == BinaryExpr(
        BinaryOp.ADD, DataFieldExpr(DataScope.DATA, "n"), LiteralExpr(1)
    )
    assert level.source_type == INT


def test_list_and_optional_types_in_the_model() -> None:
    model = analyze_text(process("")).model
    assert model is not None
    types = {f.name: f.type for f in model.data}
    assert types["names"] == ListType(PrimitiveType(Primitive.STR))
    assert types["due"] == OptionalType(PrimitiveType(Primitive.DATETIME))
