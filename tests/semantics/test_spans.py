"""The model remembers where each part is written, and compares without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmc.semantics.model import ProcessModel
from pmc.source import Span
from tests.semantics.helpers import analyze_text

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.pm"))


def model_of(text: str) -> ProcessModel:
    analysis = analyze_text(text)
    assert analysis.model is not None, analysis.diagnostics
    return analysis.model


def under(text: str, span: Span) -> str:
    """The source text under a span (joined with newlines if it runs over lines)."""
    lines = text.split("\n")[span.line - 1 : span.end_line]
    if len(lines) == 1:
        return lines[0][span.column - 1 : span.end_column - 1]
    return "\n".join([lines[0][span.column - 1 :], *lines[1:-1], lines[-1][: span.end_column - 1]])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_named_part_points_at_its_name(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    model = model_of(text)
    assert under(text, model.span) == model.name
    assert under(text, model.key.span) == model.key.field
    for part in (*model.events, *model.tasks, *model.machines):
        assert under(text, part.span) == part.name
    for machine in model.machines:
        assert [under(text, machine.state_span(s)) for s in machine.states] == list(machine.states)
        assert under(text, machine.initial_span) == machine.initial
        assert under(text, machine.states_span).startswith("states ")
        for transition in machine.transitions:
            assert under(text, transition.span) == transition.name
            assert f"-> {transition.target}" in under(text, transition.endpoints_span)
            assert under(text, transition.trigger_span)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_fields_point_at_their_declaration_and_type(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    model = model_of(text)
    fields = [
        *(f for e in model.events for f in e.fields),
        *(f for t in model.tasks for f in (*t.fields, *t.returns)),
    ]
    assert fields
    for field in fields:
        assert under(text, field.span).startswith(f"{field.name}: {under(text, field.type_span)}")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_mode_span_is_where_the_mode_is_written(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for task in model_of(text).tasks:
        header = text.split("\n")[task.span.line - 1].split()
        if header[2] == "{":  # `task Name {`: the mode is the default
            assert task.mode_span is None
        else:
            assert task.mode_span is not None
            assert under(text, task.mode_span) == header[2] == task.mode


def test_two_layouts_of_one_program_give_equal_models_with_other_spans() -> None:
    text = (EXAMPLES[0]).read_text(encoding="utf-8")
    moved = model_of("\n\n" + text)
    model = model_of(text)
    assert moved == model
    assert hash(moved) == hash(model)
    assert moved.span != model.span
