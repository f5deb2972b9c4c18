"""Each semantic check on small processes: what it reports, and what it must not."""

from __future__ import annotations

import keyword

import pytest
from pytest import MonkeyPatch

from pmc.semantics import collisions
from pmc.semantics.model import (
    AllInCondition,
    DictType,
    KeyExpr,
    ListType,
    LiteralExpr,
    MachineIdExpr,
    OptionalType,
    Primitive,
    PrimitiveType,
    RetryDelayKind,
    RetryPolicy,
    SelectorTriggerModel,
    TaskMode,
    TimerTriggerModel,
)
from tests.semantics.helpers import analyze_text, codes, diagnostics, machine_process, only

SIMPLE = """
        states A, B, Done
        initial A
        final Done
        transition go: A -> B on Go
        transition stop: B -> Done on Stop
"""


def errors(text: str) -> list[str]:
    return [d.id for d in diagnostics(text) if d.severity == "error"]


# ---- a clean process ---------------------------------------------------------------


def test_a_simple_machine_is_clean_apart_from_unused_tasks() -> None:
    assert codes(machine_process(SIMPLE)) == ["PM0902", "PM0902"]
    assert analyze_text(machine_process(SIMPLE)).model is not None  # warnings allow a model


def test_single_instance_machine_and_default_completion() -> None:
    model = analyze_text(machine_process(SIMPLE)).model
    assert model is not None
    machine = model.machine("M")
    assert not machine.multi_instance
    assert [t.name for t in machine.transitions] == ["go", "stop"]
    assert [c.machine for c in model.complete_when] == ["M"]
    assert model.fail_when == ()
    assert model.start_events is None


def test_task_defaults_and_retry_variants() -> None:
    text = machine_process(
        SIMPLE,
        declarations="""
    task Now { retry 2 }
    task Fixed async { retry 5 every 3s  timeout 1m }""",
    )
    model = analyze_text(text).model
    assert model is not None
    assert model.task("Work").mode is TaskMode.ASYNC  # the default
    assert model.task("Check").mode is TaskMode.SYNC
    assert model.task("Work").retry is None and model.task("Work").timeout_ms is None
    assert model.task("Now").retry == RetryPolicy(2, RetryDelayKind.NONE, 0, None)
    assert model.task("Fixed").retry == RetryPolicy(5, RetryDelayKind.EVERY, 3_000, None)
    assert model.task("Fixed").timeout_ms == 60_000


def test_start_cancel_and_conditions_reach_the_model() -> None:
    text = machine_process(
        SIMPLE,
        tail="""
    start on Go, Go
    cancel on Stop
    complete when all M in B, Done
    fail when any M in B""",
    )
    model = analyze_text(text).model
    assert model is not None
    assert model.start_events == ("Go",)
    assert model.cancel_events == ("Stop",)
    assert model.complete_when == (AllInCondition("M", ("B", "Done")),)


# ---- names and duplicates ------------------------------------------------------------


def test_events_tasks_and_machines_share_one_namespace() -> None:
    d = only(machine_process(SIMPLE, declarations="    machine Go { }"), "PM0101")
    assert d.message == "`Go` is declared more than once"
    assert d.labels[0].message == "first declared here, as an event"


def test_repeated_states_clauses_are_concatenated_and_duplicates_reported() -> None:
    machine = SIMPLE.replace("states A, B, Done", "states A, B\n        states Done, B")
    assert errors(machine_process(machine)) == ["PM0102"]


def test_duplicate_transition_names() -> None:
    machine = SIMPLE + "        transition go: B -> A on Go\n"
    assert "PM0103" in errors(machine_process(machine))


def test_duplicate_fields_and_bindings() -> None:
    assert errors(machine_process(SIMPLE, "    event E { id: str  id: int }")) == ["PM0104"]
    machine = SIMPLE.replace("on Go\n", "on Go run Check(level = 1, level = 2)\n")
    assert "PM0104" in errors(machine_process(machine))


def test_invalid_identifiers_name_the_reason() -> None:
    text = machine_process(SIMPLE.replace("transition go:", "transition _go:"))
    assert (
        only(text, "PM0105").label == "starts with `_`, which Python and pydantic treat as private"
    )
    text = machine_process(
        SIMPLE, "    event E { id: str  model_name: str  json: str  match: int }"
    )
    labels = [d.label for d in diagnostics(text) if d.id == "PM0105"]
    assert labels == [
        "starts with `model_`, which pydantic reserves",
        "is a method of pydantic models",
        "is a Python soft keyword",
    ]


@pytest.mark.parametrize("name", ["l", "O", "I"])
def test_names_pycodestyle_finds_ambiguous_are_rejected(name: str) -> None:
    """A state, field or task `l`, `O` or `I` would fail ruff's E741/E742 in generated code."""
    label = "is ambiguous: `l`, `O` and `I` read as `1` and `0` (pycodestyle E741, E742)"
    text = machine_process(SIMPLE, f"    event E {{ id: str  {name}: int }}")
    assert only(text, "PM0105").label == label
    machine = SIMPLE.replace("A, B, Done", f"A, {name}, Done").replace("-> B", f"-> {name}")
    machine = machine.replace("B ->", f"{name} ->")
    assert only(machine_process(machine), "PM0105").label == label
    assert only(machine_process(SIMPLE, f"    task {name} sync {{ }}"), "PM0105").label == label


@pytest.mark.parametrize("soft", ["type", "match", "case", "_"])
def test_soft_keywords_are_rejected_on_every_python(
    soft: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`type` became a soft keyword in Python 3.12: the language must not depend on that."""
    monkeypatch.setattr(keyword, "softkwlist", ["_", "case", "match"])  # Python 3.11
    monkeypatch.setattr(keyword, "issoftkeyword", frozenset(keyword.softkwlist).__contains__)
    text = machine_process(SIMPLE, f"    event E {{ id: str  {soft}: int }}")
    assert only(text, "PM0105").label == "is a Python soft keyword"
    machine = SIMPLE.replace("A, B, Done", f"A, {soft}, Done").replace("-> B", f"-> {soft}")
    machine = machine.replace("B ->", f"{soft} ->")
    assert only(machine_process(machine), "PM0105").label == "is a Python soft keyword"


def test_field_names_must_not_shadow_the_types_of_the_model() -> None:
    """``str: str = "a"`` then ``name: str`` would resolve ``str`` to the default."""
    text = machine_process(
        SIMPLE, '    event E { id: str  str: str = "a"  date: date  day: date  name: str }'
    )
    labels = [d.label for d in diagnostics(text) if d.id == "PM0105"]
    assert labels == [
        "would shadow the type `str` inside the generated model",
        "would shadow the type `date` inside the generated model",
    ]


def test_state_names_must_not_shadow_str_attributes_of_the_enum() -> None:
    machine = SIMPLE.replace("A, B, Done", "A, upper, Done").replace("-> B", "-> upper")
    d = only(machine_process(machine.replace("B ->", "upper ->")), "PM0105")
    assert d.label == "is an attribute of `str`, which the enum `MState` extends"


def test_single_valued_clauses_written_twice() -> None:
    machine = SIMPLE.replace("initial A", "initial A\n        initial B")
    text = machine_process(
        machine,
        declarations="    task T { retry 1  retry 2  returns { a: int }  returns { b: int } }",
        tail="    complete when all M final\n    complete when all M final\n"
        "    fail when any M in B\n    fail when any M in A",
    )
    assert errors(text) == ["PM0106"] * 5
    text = "process P {\n    key id\n    key id\n" + machine_process(SIMPLE).split("key id\n", 1)[1]
    assert errors(text) == ["PM0106"]


# ---- unknown references ----------------------------------------------------------------


def test_unknown_state_suggests_a_spelling_and_stops_graph_checks() -> None:
    machine = SIMPLE.replace("B -> Done", "B -> Dnoe")
    d = only(machine_process(machine), "PM0203")
    assert (d.message, d.label, d.help) == (
        "unknown state `Dnoe`",
        "not declared in machine `M`",
        "did you mean `Done`?",
    )
    # `Done` now has no incoming transition and `B` no way out, but neither is reported.
    assert errors(machine_process(machine)) == ["PM0203"]


def test_unknown_event_that_is_a_task_says_so() -> None:
    d = only(machine_process(SIMPLE.replace("on Go", "on Work")), "PM0201")
    assert d.help == "`Work` is a task: write `Work completed` or `Work failed`"
    d = only(machine_process(SIMPLE, tail="    cancel on Work"), "PM0201")
    assert d.help == "`Work` is a task, not an event"


def test_unknown_task_in_run_and_outcome() -> None:
    machine = SIMPLE.replace("on Go", "on Go run Wrk").replace("on Stop", "on Wrok completed")
    found = [d for d in diagnostics(machine_process(machine)) if d.id == "PM0202"]
    assert [d.help for d in found] == ["did you mean `Work`?", "did you mean `Work`?"]


def test_unknown_selector_field_and_unknown_type() -> None:
    machine = SIMPLE.replace("on Go\n", "on Go.cuont\n").replace("on Stop", "on Stop.id")
    assert only(machine_process(machine), "PM0204").help == "did you mean `count`?"
    d = only(machine_process(SIMPLE, "    event E { id: str  at: uuid }"), "PM0205")
    assert d.help == "did you mean `UUID`?"


def test_unknown_machine_and_state_in_conditions() -> None:
    text = machine_process(SIMPLE, tail="    complete when all N final\n    fail when any M in Dne")
    assert errors(text) == ["PM0206", "PM0203"]


# ---- structure -------------------------------------------------------------------------------


def test_initial_not_declared() -> None:
    d = only(machine_process(SIMPLE.replace("initial A", "initial Start")), "PM0301")
    assert d.message == "initial state `Start` is not a declared state"


def test_machine_without_states_reports_only_that() -> None:
    assert errors(machine_process("        transition go: A -> B on Go")) == ["PM0302"]


def test_final_naming_an_undeclared_state_is_an_unknown_state() -> None:
    machine = SIMPLE.replace("final Done", "final Done, Finished")
    assert errors(machine_process(machine)) == ["PM0203"]


def test_only_explicit_sources_can_leave_a_final_state() -> None:
    explicit = SIMPLE + "        transition again: Done -> A on Go\n"
    assert errors(machine_process(explicit)) == ["PM0303"]
    wildcard = SIMPLE + "        transition reset: * -> A on Stop\n"
    assert "PM0303" not in codes(machine_process(wildcard))


def test_no_final_state_and_no_machine() -> None:
    assert errors(machine_process(SIMPLE.replace("final Done", ""))) == ["PM0305"]
    assert codes("process P { key id  event E { id: str }  cancel on E }") == ["PM0306"]


def test_missing_key_suggests_a_field_every_event_has() -> None:
    text = machine_process(SIMPLE).replace("    key id\n", "")
    assert only(text, "PM0304").help == (
        "name the event field that identifies a process instance, e.g. `key id`"
    )


def test_invalid_retry_and_timeout_values() -> None:
    text = machine_process(
        SIMPLE,
        declarations="""
    task A { retry -1 }
    task B { retry 1 backoff 0s }
    task C { retry 1 max 5s }
    task D { retry 1 every 10s max 5s }
    task E { timeout 0ms }""",
    )
    messages = [d.message for d in diagnostics(text) if d.id == "PM0307"]
    assert messages == [
        "the retry count must not be negative",
        "a `backoff` delay must be longer than zero",
        "`max` needs a `backoff` or `every` delay to limit",
        "`max 5s` is shorter than the delay `every 10s`",
        "a timeout must be longer than zero",
    ]
    assert errors(machine_process(SIMPLE.replace("on Stop", "on after 0s"))) == ["PM0307"]


# ---- the state graph -----------------------------------------------------------------------


def test_unreachable_and_trap_states() -> None:
    machine = """
        states A, Lost, Stuck, Done
        initial A
        final Done
        transition go: A -> Done on Go
        transition wait: A -> Stuck on after 5m
        transition away: Lost -> Done on Stop
"""
    found = [(d.id, d.message) for d in diagnostics(machine_process(machine))]
    assert ("PM0401", "state `Lost` is unreachable") in found
    assert ("PM0402", "state `Stuck` is a trap: no final state can be reached from it") in found
    assert [c for c, _ in found if c.startswith("PM04")] == ["PM0401", "PM0402"]


def test_nondeterminism_through_a_wildcard() -> None:
    machine = SIMPLE + "        transition abort: * -> Done on Go\n"
    d = only(machine_process(machine), "PM0403")
    assert d.message == "transitions `go` and `abort` both leave `A` on `Go`"
    assert d.notes == ("`*` stands for every non-final state",)


def test_selectors_of_one_event_share_its_trigger_identity() -> None:
    machine = """
        states A, Done
        initial A
        final Done
        transition one: A -> Done on Go.id
        transition two: A -> Done on Go.note
"""
    assert "PM0403" in codes(machine_process(machine))


def test_timers_are_told_apart_by_duration_however_spelled() -> None:
    machine = SIMPLE + "        transition t1: A -> Done on after 60s\n"
    same = machine + "        transition t2: A -> Done on after 1m\n"
    other = machine + "        transition t2: A -> Done on after 2m\n"
    assert "PM0403" in codes(machine_process(same))
    assert "PM0403" not in codes(machine_process(other))
    model = analyze_text(machine_process(machine)).model
    assert model is not None
    assert model.machine("M").transitions[-1].trigger == TimerTriggerModel(60_000)


RUNS_WORK = """
        states A, Busy, Done, Failed
        initial A
        final Done, Failed
        transition go: A -> Busy on Go run Work
"""


def test_outcome_handling_is_complete() -> None:
    machine = RUNS_WORK + (
        "        transition ok: Busy -> Done on Work completed\n"
        "        transition ko: Busy -> Failed on Work failed\n"
    )
    assert errors(machine_process(machine)) == []


def test_an_unhandled_outcome_names_what_is_missing() -> None:
    neither = RUNS_WORK + "        transition stop: Busy -> Done on Stop\n"
    assert only(machine_process(neither), "PM0404").message == (
        "state `Busy` handles neither `Work completed` nor `Work failed`"
    )
    one = RUNS_WORK + "        transition ok: Busy -> Done on Work completed\n"
    assert only(machine_process(one), "PM0404").message == (
        "state `Busy` does not handle `Work failed`"
    )


def test_a_task_run_into_a_final_state_is_never_handled() -> None:
    machine = SIMPLE.replace("on Stop", "on Stop run Work")
    assert only(machine_process(machine), "PM0404").message == (
        "task `Work` runs on entering final state `Done`, where its outcome is never handled"
    )


def test_wildcard_outcome_transitions_keep_only_the_live_states() -> None:
    machine = RUNS_WORK + (
        "        transition ok: Busy -> Done on Work completed\n"
        "        transition ko: * -> Failed on Work failed\n"
    )
    analysis = analyze_text(machine_process(machine))
    assert [d.id for d in analysis.diagnostics if d.severity == "error"] == []
    assert analysis.model is not None
    assert analysis.model.machine("M").transitions[-1].sources == ("Busy",)


def test_dead_outcome_transitions() -> None:
    explicit = RUNS_WORK + (
        "        transition ok: Busy -> Done on Work completed\n"
        "        transition ko: Busy -> Failed on Work failed\n"
        "        transition early: A -> Failed on Work failed\n"
    )
    assert only(machine_process(explicit), "PM0405").message == (
        "`Work failed` can never happen in state `A`"
    )
    never_run = SIMPLE + "        transition odd: * -> Done on Work failed\n"
    d = only(machine_process(never_run), "PM0405")
    assert d.help == "no transition of machine `M` runs `Work`"


def test_an_unknown_task_does_not_make_outcome_transitions_dead() -> None:
    machine = RUNS_WORK.replace("run Work", "run Wrk") + (
        "        transition ok: Busy -> Done on Work completed\n"
        "        transition ko: Busy -> Failed on Work failed\n"
    )
    assert errors(machine_process(machine)) == ["PM0202"]


def test_an_unknown_outcome_trigger_leaves_the_other_outcomes_checked() -> None:
    # `Wrok completed` may be `Work completed`: `Busy` is not said to miss it;
    # but `Work failed` can still never happen in `A`.
    machine = RUNS_WORK + (
        "        transition ok: Busy -> Done on Wrok completed\n"
        "        transition ko: Busy -> Failed on Work failed\n"
        "        transition odd: A -> Failed on Work failed\n"
    )
    assert errors(machine_process(machine)) == ["PM0202", "PM0405"]


def test_a_plain_trigger_on_a_many_instance_machine_broadcasts() -> None:
    # PM0406 is retired: `on Stop` addresses every instance whose state accepts it.
    model = analyze_text(machine_process(SIMPLE.replace("on Go\n", "on Go.id\n"))).model
    assert model is not None
    assert model.machine("M").multi_instance


def test_one_event_cannot_both_select_and_broadcast_in_one_machine() -> None:
    machine = SIMPLE.replace("on Go\n", "on Go.id\n").replace(
        "transition stop: B -> Done on Stop", "transition stop: B -> Done on Go"
    )
    d = only(machine_process(machine), "PM0407")
    assert d.label == "selects instances by `id`"
    assert [label.message for label in d.labels] == ["addresses every existing instance"]


def test_a_broadcast_transition_may_bind_the_instance_id() -> None:
    machine = """
        states A, B, Checking, Done
        initial A
        final Done
        transition go: A -> B on Go.id
        transition stop: B -> Checking on Stop run Check(level = 1, label = machine_id)
        transition checked: Checking -> Done on Check completed
        transition unchecked: Checking -> Done on Check failed
"""
    assert errors(machine_process(machine)) == []


# ---- types and the key ------------------------------------------------------------------------


def test_a_selector_field_of_unknown_type_is_reported_once() -> None:
    machine = SIMPLE.replace("on Go\n", "on Many.ids\n").replace("on Stop", "on Stop.id")
    text = machine_process(machine, "    event Many { id: str  ids: list[Str] }")
    assert errors(text) == ["PM0205"]


def test_selector_types_and_fan_out() -> None:
    machine = """
        states A, Done
        initial A
        final Done
        transition one: A -> Done on Go.id
        transition many: A -> Done on Many.ids
"""
    text = machine_process(machine, "    event Many { id: str  ids: list[str] }")
    model = analyze_text(text).model
    assert model is not None
    one, many = model.machine("M").transitions
    assert one.trigger == SelectorTriggerModel("Go", "id", fan_out=False)
    assert many.trigger == SelectorTriggerModel("Many", "ids", fan_out=True)
    assert model.machine("M").multi_instance
    bad = machine.replace("Go.id", "Go.note")
    assert only(machine_process(bad, "    event Many { id: str  ids: list[str] }"), "PM0501")


def test_one_machine_selects_its_instances_by_ids_of_one_type() -> None:
    # Ids are compared as text at runtime: `1` and `"1"` would be one instance.
    machine = """
        states A, B, Done
        initial A
        final Done
        transition one: A -> B on Go.id
        transition two: B -> Done on Num.n
        transition three: B -> Done on Go.id
"""
    text = machine_process(machine, "    event Num { id: str  n: int }")
    d = only(text, "PM0501")
    assert d.message == (
        "instances of `M` are selected by `Go.id` of type str and `Num.n` of type int; use one type"
    )
    lines = text.splitlines()
    two = next(n for n, line in enumerate(lines, 1) if "transition two" in line)
    assert (d.span.line, d.span.column) == (two, lines[two - 1].index("Num.n") + 5)
    assert d.label == "ids of type `int`"
    [first] = d.labels
    assert (first.span.line, first.message) == (two - 1, "ids of type `str`")
    # A list of ids carries ids of its item type; UUID is a type of its own.
    same = machine_process(machine, "    event Num { id: str  n: list[str] }")
    assert errors(same) == []
    uuids = machine_process(machine, "    event Num { id: str  n: list[UUID] }")
    assert errors(uuids) == ["PM0501"]


def test_every_trigger_event_needs_the_key_once() -> None:
    text = machine_process(
        SIMPLE.replace("on Stop", "on Ping") + "        transition p2: A -> A on Ping\n",
        "    event Ping { at: datetime }",
        tail="    cancel on Ping",
    )
    d = only(text, "PM0502")
    assert d.message == "event `Ping` lacks the key field `id`"
    assert d.help == "add `id: str` to event `Ping`"


def test_key_types() -> None:
    bad = machine_process(SIMPLE).replace("event Stop { id: str }", "event Stop { id: float }")
    assert only(bad, "PM0503").message == "key field `id` of event `Stop` is `float`"
    mixed = machine_process(SIMPLE).replace("event Stop { id: str }", "event Stop { id: int }")
    assert only(mixed, "PM0503").label == "expected `str`"
    unused = machine_process(SIMPLE, "    event Spare { id: float }")
    assert errors(unused) == []  # only events the key routes must agree on it
    uuid = machine_process(SIMPLE).replace("id: str", "id: UUID")
    model = analyze_text(uuid).model
    assert model is not None and model.key.type == PrimitiveType(Primitive.UUID)


def test_defaults_must_match_their_field_type() -> None:
    good = """    event E { id: str  a: float = 1  b: Decimal = 1.5  c: bool = false
              d: int | None = none  e: list[str] | None = none  f: str | None = "x" }"""
    assert errors(machine_process(SIMPLE, good)) == []
    for field in (
        "a: int = 1.5",
        "b: str = 1",
        'c: bool = "true"',
        "d: int = none",
        'e: list[str] = "a"',
        'f: UUID = "x"',
    ):
        assert errors(machine_process(SIMPLE, f"    event E {{ id: str  {field} }}")) == [
            "PM0504"
        ], field


def test_a_decimal_default_too_large_for_a_float_is_reported() -> None:
    huge = "1" + "0" * 400 + ".0"
    for field in (f"n: float = {huge}", f"n: float | None = -{huge}"):
        d = only(machine_process(SIMPLE, f"    event E {{ id: str  {field} }}"), "PM0504")
        assert d.message == "default for `n` does not fit a float"
    # The largest float fits; a `Decimal` holds any number of digits.
    for field in (
        "n: float = 179769313486231570000000000" + "0" * 282 + ".0",
        f"n: Decimal = {huge}",
    ):
        assert errors(machine_process(SIMPLE, f"    event E {{ id: str  {field} }}")) == []


def test_a_decimal_too_small_for_a_float_is_reported_not_made_zero() -> None:
    tiny = "0." + "0" * 400 + "1"
    for field in (f"n: float = {tiny}", f"n: float | None = -{tiny}"):
        d = only(machine_process(SIMPLE, f"    event E {{ id: str  {field} }}"), "PM0504")
        assert d.message == "default for `n` does not fit a float"
        assert d.label == "too small for a float: it would become 0.0"
        assert d.help == "write 0, or a larger number, or make the field a `Decimal`"
    declarations = "    task Scale sync { factor: float }"
    machine = SIMPLE.replace("on Go\n", f"on Go run Scale(factor = {tiny})\n")
    d = only(machine_process(machine, declarations), "PM0603")
    assert d.label == "too small for a float: it would become 0.0"
    # Zero, the smallest subnormal float and any `Decimal` fit.
    for field in ("n: float = 0.0", "n: float = 0." + "0" * 323 + "5", f"n: Decimal = {tiny}"):
        assert errors(machine_process(SIMPLE, f"    event E {{ id: str  {field} }}")) == []


def test_a_decimal_bound_to_a_float_field_must_fit_a_float() -> None:
    declarations = "    task Scale sync { factor: float }"
    machine = SIMPLE.replace("on Go\n", "on Go run Scale(factor = 1" + "0" * 400 + ".5)\n")
    d = only(machine_process(machine, declarations), "PM0603")
    assert d.message == "the value bound to `factor` does not fit a float"


def test_integer_literals_for_decimal_fields_become_decimals() -> None:
    declarations = (
        "    event E { id: str  price: Decimal = 2  ratio: float = 1  cap: Decimal | None = 3 }"
    )
    model = analyze_text(machine_process(SIMPLE, declarations)).model
    assert model is not None
    defaults = [f.default for f in model.event("E").fields[1:]]
    assert [type(d).__name__ for d in defaults] == ["Decimal", "int", "Decimal"]


def test_invalid_type_shapes() -> None:
    for field in (
        "a: list",
        "a: list[str, int]",
        "a: dict[str]",
        "a: dict[int, str]",
        "a: str[int]",
        "a: str | int",
        "a: None",
        "a: str | None | None",
    ):
        assert errors(machine_process(SIMPLE, f"    event E {{ id: str  {field} }}")) == [
            "PM0505"
        ], field
    text = machine_process(SIMPLE, "    event E { id: str  a: dict[str, list[int]] | None }")
    model = analyze_text(text).model
    assert model is not None
    int_list = ListType(PrimitiveType(Primitive.INT))
    assert model.event("E").fields[1].type == OptionalType(DictType(int_list))


# ---- bindings ------------------------------------------------------------------------------------


RUN_CHECK = """
        states A, Busy, Done
        initial A
        final Done
        transition go: A -> Busy on Go
        transition ok: Busy -> Done on Check completed
        transition ko: Busy -> Done on Check failed
"""


def run_on_go(run: str, machine: str = RUN_CHECK) -> str:
    return machine_process(machine.replace("on Go\n", f"on Go run {run}\n"))


def test_binding_values_reach_the_model() -> None:
    model = analyze_text(run_on_go("Check(level = 3, label = machine_id)")).model
    assert model is not None
    run = model.machine("M").transitions[0].run
    assert run is not None
    assert [b.value for b in run.bindings] == [LiteralExpr(3), MachineIdExpr()]
    model = analyze_text(run_on_go("Check(level = 1, label = key)")).model
    assert model is not None and model.machine("M").transitions[0].run is not None
    assert model.machine("M").transitions[0].run.bindings[1].value == KeyExpr()


def test_unknown_and_missing_binding_fields() -> None:
    assert only(run_on_go("Check(levl = 1)"), "PM0601").help == "did you mean `level`?"
    d = only(run_on_go("Check"), "PM0602")
    assert d.message == "`run Check` leaves required field `level` unbound"


def test_binding_types() -> None:
    assert errors(run_on_go("Check(level = event.count)")) == []
    assert errors(run_on_go('Check(level = "high")')) == ["PM0603"]
    assert errors(run_on_go("Check(level = machine_id)")) == ["PM0603"]
    assert errors(run_on_go("Check(level = 1, label = event.note)")) == ["PM0603"]
    assert only(run_on_go("Check(level = key)"), "PM0603").message == (
        "`level` is `int`, but the value bound to it is `str`"
    )


def test_event_fields_available_per_trigger() -> None:
    machine = RUNS_WORK + (
        "        transition ok: Busy -> Done on Work completed run Check(level = event.done)\n"
        "        transition ko: Busy -> Failed on Work failed\n"
        "            run Check(level = 1, label = event.reason)\n"
    )
    assert errors(machine_process(machine)) == ["PM0404", "PM0404"]  # Check into final states
    missing = RUNS_WORK + (
        "        transition ok: Busy -> Done on Work completed run Check(level = event.count)\n"
        "        transition ko: Busy -> Failed on Work failed\n"
        "        transition t: A -> Busy on after 1s run Check(level = event.count)\n"
    )
    found = [d for d in diagnostics(machine_process(missing)) if d.id == "PM0604"]
    assert [d.label for d in found] == [
        "not carried by `Work completed`",
        "a timer carries no fields",
    ]


# ---- collisions and warnings ---------------------------------------------------------------------


def test_generated_names_collide() -> None:
    assert errors(machine_process(SIMPLE, "    event MState { id: str }")) == ["PM0701"]
    assert errors(machine_process(SIMPLE, "    event WorkResult { id: str }")) == ["PM0701"]
    # `Check` returns nothing, so no `CheckResult` is generated.
    assert errors(machine_process(SIMPLE, "    event CheckResult { id: str }")) == []
    assert errors(machine_process(SIMPLE, "    event PTasks { id: str }")) == ["PM0701"]
    assert errors(machine_process(SIMPLE, "    event P { id: str }")) == ["PM0701"]
    assert errors(machine_process(SIMPLE, "    event Event { id: str }")) == ["PM0701"]


def test_module_level_names_may_not_shadow_python_builtins() -> None:
    # Each would break the generated module: `list[str]` annotations, the
    # `tuple(...)` of a fan-out, `str(...)` of an int key.
    for declaration in ("event list { id: str }", "event tuple { id: str }", "task str { }"):
        kind, name = declaration.split()[:2]
        found = diagnostics(machine_process(SIMPLE, f"    {declaration}"))
        (clash,) = [d for d in found if d.id == "PM0701"]
        message = f"{kind} name `{name}` shadows a Python builtin in the generated module"
        assert clash.message == message
        assert clash.label == f"`{name}` is a Python builtin the generated module uses"
    process = machine_process(SIMPLE).replace("process P {", "process object {")
    assert errors(process) == ["PM0701"]
    # A machine is not a module-level name: its enum is `<Machine>State`.
    assert errors(machine_process(SIMPLE).replace("machine M {", "machine list {")) == []


def test_a_generated_name_that_shadows_a_builtin_is_reported(monkeypatch: MonkeyPatch) -> None:
    # No builtin ends in State, Result or Tasks today; the check still covers them.
    monkeypatch.setattr(collisions, "PYTHON_BUILTINS", frozenset({"MState"}))

    found = [d for d in diagnostics(machine_process(SIMPLE)) if d.id == "PM0701"]

    assert [d.message for d in found] == [
        "the state enum of machine `M` would be named `MState`, which shadows a Python builtin"
    ]


def test_task_method_names_collide_or_are_keywords() -> None:
    text = machine_process(
        SIMPLE, "    task HTTPCall { }\n    task HttpCall { }\n    task Import { }"
    )
    messages = [d.message for d in diagnostics(text) if d.id == "PM0701"]
    assert messages == [
        "tasks `HTTPCall` and `HttpCall` would both become the method `http_call` of `PTasks`",
        "task `Import` would become the method `import`, a Python keyword",
    ]


def test_unused_declarations_are_warnings() -> None:
    text = machine_process(SIMPLE, "    event Spare { id: str }")
    assert [d.message for d in diagnostics(text)] == [
        "task `Work` is never run",
        "task `Check` is never run",
        "event `Spare` is never used",
    ]


def test_completion_conditions_that_never_hold() -> None:
    unreachable = SIMPLE + "        states Never\n        transition n: Never -> Done on Go\n"
    text = machine_process(unreachable, tail="    complete when all M in Never")
    assert only(text, "PM0903").message == "`all M in Never` can never hold"
    contradictory = machine_process(SIMPLE, tail="    complete when all M in B and all M final")
    assert "PM0903" in codes(contradictory)
    compatible = machine_process(SIMPLE, tail="    complete when all M in B, Done and all M final")
    assert "PM0903" not in codes(compatible)


# ---- how a process starts and ends (issue #8, item 13) ---------------------------


def test_an_event_that_starts_and_cancels_is_an_error() -> None:
    d = only(machine_process(SIMPLE, tail="    start on Go, Stop\n    cancel on Stop"), "PM0308")
    assert d.message == "event `Stop` both starts and cancels the process"
    assert [label.message for label in d.labels] == ["starts the process"]
    # Cancelling without starting, or starting without cancelling, is fine.
    assert errors(machine_process(SIMPLE, tail="    start on Go\n    cancel on Stop")) == []


def test_fail_when_on_the_initial_state_of_a_starting_event_is_an_error() -> None:
    # `Stop` may start the process (every trigger may) and leaves `A` in place.
    d = only(machine_process(SIMPLE, tail="    fail when any M in A"), "PM0309")
    assert d.message == "`fail when` holds as soon as `Stop` starts the process"
    assert d.label == "`M` starts in `A`"
    # With only `Go` starting it, `M` has left `A` when `fail when` is checked.
    assert errors(machine_process(SIMPLE, tail="    start on Go\n    fail when any M in A")) == []
    # A self-loop on the initial state stays in it.
    machine = SIMPLE + "        transition again: A -> A on Stop\n"
    assert "PM0309" in errors(machine_process(machine, tail="    fail when any M in A"))
    # A cancelling event ends the process before `fail when` matters.
    tail = "    start on Go, Stop\n    cancel on Stop\n    fail when any M in A"
    assert "PM0309" not in errors(machine_process(SIMPLE, tail=tail))


def test_fail_when_on_the_initial_state_of_a_multi_instance_machine_is_fine() -> None:
    machine = SIMPLE.replace("on Go\n", "on Go.id\n").replace("on Stop\n", "on Stop.id\n")
    assert "PM0309" not in codes(machine_process(machine, tail="    fail when any M in A"))


def test_completion_that_always_fails_is_a_warning() -> None:
    tail = "    complete when all M in Done\n    fail when any M in Done"
    d = only(machine_process(SIMPLE, tail=tail), "PM0904")
    assert d.severity == "warning"
    assert d.message == (
        "the process can never complete: whenever `complete when` holds, `fail when` holds too"
    )
    # The default completion (every machine final) counts too.
    d = only(machine_process(SIMPLE, tail="    fail when any M in Done"), "PM0904")
    assert "the default completion (all machines final)" in d.message


def test_completion_and_failure_that_only_overlap_are_fine() -> None:
    # As in the reference scenario: the last instance failing satisfies both, by design.
    machine = """
        states A, Done, Failed
        initial A
        final Done, Failed
        transition done: A -> Done on Go
        transition failed: A -> Failed on Stop
"""
    for tail in ("", "    complete when all M final\n"):
        text = machine_process(machine, tail=tail + "    fail when any M in Failed")
        assert "PM0904" not in codes(text)
