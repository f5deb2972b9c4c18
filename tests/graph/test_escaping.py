"""No name can break the diagram syntax, whatever characters it holds.

The grammar only admits identifiers, but the renderers do not rely on it:
these tests build models by hand with arbitrary names and check every line
of the output against the few statement forms each renderer writes.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmc.semantics.model import (
    AllFinalCondition,
    AssignmentModel,
    BinaryExpr,
    BinaryOp,
    DataScope,
    DeadlineTriggerModel,
    EmitModel,
    EventFieldExpr,
    EventTriggerModel,
    KeyModel,
    LiteralExpr,
    MachineModel,
    Primitive,
    PrimitiveType,
    ProcessModel,
    RunModel,
    SignalModel,
    SignalTriggerModel,
    TaskMode,
    TaskModel,
    TimerTriggerModel,
    TransitionModel,
)
from pmc.tools.graph import dot_string, mermaid_text, render_dot, render_mermaid

HOSTILE = [
    'say "hi"',
    "a: b; c",
    "back\\slash\\N",
    "line\nbreak\r\u2028x",
    "# not a comment",
    "-->",
    "[*]",
    "}{",
    "%% note",
    "<b>html</b> &amp;",
    "état ⏱",
]

names = st.text(min_size=1, max_size=12)


def hostile_model(
    process: str, machine: str, states: list[str], event: str, task: str, text: str = "x"
) -> ProcessModel:
    """Every name is hostile; so are ``text`` (a string literal in a guard, a
    signal, data fields) and the second-edition clauses that print it."""
    first, *rest = states
    last = rest[-1] if rest else first
    guard = BinaryExpr(BinaryOp.EQ, EventFieldExpr(event), LiteralExpr(text))
    return ProcessModel(
        name=process,
        key=KeyModel("id", PrimitiveType(Primitive.STR)),
        events=(),
        tasks=(TaskModel(task, TaskMode.SYNC, (), (), None, 1000),),
        machines=(
            MachineModel(
                name=machine,
                states=tuple(states),
                initial=first,
                final=(last,),
                multi_instance=False,
                transitions=(
                    TransitionModel(
                        event, (first,), last, EventTriggerModel(event), None, guard=guard
                    ),
                    TransitionModel(
                        task,
                        (first,),
                        last,
                        TimerTriggerModel(5),
                        RunModel(task, ()),
                        from_wildcard=True,
                    ),
                    TransitionModel(
                        text,
                        (first,),
                        last,
                        SignalTriggerModel(text),
                        None,
                        keep=(task,),
                        sets=(AssignmentModel(DataScope.INSTANCE, text, LiteralExpr(text)),),
                        emits=(EmitModel(text, ()),),
                    ),
                    TransitionModel(
                        f"{text}!", (first,), last, DeadlineTriggerModel(DataScope.DATA, text), None
                    ),
                ),
            ),
        ),
        signals=(SignalModel(text, ()),),
        start_events=None,
        complete_when=(AllFinalCondition(machine),),
        fail_when=(),
        cancel_events=(),
    )


# ---- Mermaid -----------------------------------------------------------------------

_M_LABEL = r'(?:[^":;#\n]|#\d+;)*'
_M_ID = r"(?:m\d+(?:_s\d+|_any)?|signals|sig\d+)"
_MERMAID_LINE = re.compile(
    "|".join(
        [
            r"stateDiagram-v2",
            r"    classDef wildcard [^\n]*",
            rf'    state "{_M_LABEL}" as {_M_ID} \{{',
            rf'        state "{_M_LABEL}" as {_M_ID}',
            rf'    state "{_M_LABEL}" as {_M_ID}',  # a signal of the legend
            rf"        \[\*\] --> {_M_ID}",
            rf"        {_M_ID} --> {_M_ID} : {_M_LABEL}",
            rf"        {_M_ID} --> \[\*\]",
            r"    \}",
            rf"    class {_M_ID}(?:,{_M_ID})* wildcard",
        ]
    )
)


def _mermaid_decoded(text: str) -> str:
    """What Mermaid shows for a label: it turns `#58;` into `&#58;` for the SVG."""
    return html.unescape(re.sub(r"#(\d+);", r"&#\1;", text))


@pytest.mark.parametrize("name", HOSTILE)
def test_mermaid_text_round_trips_through_mermaid_entities(name: str) -> None:
    escaped = mermaid_text(name)
    assert re.fullmatch(_M_LABEL, escaped)
    assert _mermaid_decoded(escaped) == name


@settings(max_examples=60, deadline=None)
@given(
    process=names,
    machine=names,
    states=st.lists(names, min_size=1, max_size=4, unique=True),
    event=names,
    task=names,
    literal=names,
)
def test_every_mermaid_line_is_a_statement_form(
    process: str, machine: str, states: list[str], event: str, task: str, literal: str
) -> None:
    text = render_mermaid(hostile_model(process, machine, states, event, task, literal))
    assert text.endswith("\n")
    for line in text[:-1].split("\n"):
        assert _MERMAID_LINE.fullmatch(line), line


# ---- DOT ---------------------------------------------------------------------------------

_D_STRING = r'"(?:[^"\\\n]|\\[\\"])*"'
_D_ATTRS = rf"\[\w+=(?:{_D_STRING}|[\w.]+)(?:, \w+=(?:{_D_STRING}|[\w.]+))*\]"
_DOT_LINE = re.compile(
    "|".join(
        [
            rf"digraph {_D_STRING} \{{",
            rf"    (?:graph|node|edge) {_D_ATTRS};",
            rf"    subgraph {_D_STRING} \{{",
            rf"        label={_D_STRING};",
            rf"        {_D_STRING} {_D_ATTRS};",
            rf"        {_D_STRING} -> {_D_STRING}(?: {_D_ATTRS})?;",
            r"    \}",
            r"\}",
        ]
    )
)


def _dot_decoded(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


@pytest.mark.parametrize("name", [n for n in HOSTILE if n.isprintable()])
def test_dot_string_round_trips_printable_text(name: str) -> None:
    quoted = dot_string(name)
    assert re.fullmatch(_D_STRING, quoted)
    assert _dot_decoded(quoted) == name


def test_dot_string_turns_line_breaks_into_spaces() -> None:
    assert dot_string("a\nb\rc\u2028d") == '"a b c d"'


@settings(max_examples=60, deadline=None)
@given(
    process=names,
    machine=names,
    states=st.lists(names, min_size=1, max_size=4, unique=True),
    event=names,
    task=names,
    literal=names,
)
def test_every_dot_line_is_a_statement_form(
    process: str, machine: str, states: list[str], event: str, task: str, literal: str
) -> None:
    text = render_dot(hostile_model(process, machine, states, event, task, literal))
    assert text.endswith("\n")
    for line in text[:-1].split("\n"):
        assert _DOT_LINE.fullmatch(line), line


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_graphviz_reads_hostile_names_as_plain_labels() -> None:
    model = hostile_model('P "x"', "M\\N", ['A "1"', "B\\G;"], "E -> F", "T{}", 'say "\\N"')
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=render_dot(model), capture_output=True, text=True, check=True
    ).stdout
    # Graphviz would print `\N` as the node's id and `\G` as the graph's name.
    assert ">M\\N</text>" in svg
    assert ">B\\G;</text>" in svg
    assert ">A &quot;1&quot;</text>" in svg
    assert ">T{}: after 5ms / run T{} (sync, timeout 1s)</text>" in svg
    # A string literal prints as in a `.pm` file, its escapes included.
    shown = html.unescape(svg)
    assert '>E -> F: E -> F [event.E -> F == "say \\"\\\\N\\""]</text>' in shown
    assert '>say "\\N": emitted by M\\N.say "\\N"; handled by M\\N.say "\\N"</text>' in shown
