"""Generated code at the edge of the line length: a one-item tuple stays a tuple, and fits."""

from __future__ import annotations

import ast

import pytest

from pmc.codegen.formatter import LINE_LENGTH
from tests.codegen.support import compile_text


@pytest.mark.parametrize("width", range(LINE_LENGTH - 8, LINE_LENGTH + 3))
def test_a_one_item_tuple_stays_a_tuple_at_every_width(width: int) -> None:
    # Around the line length, `(x,)` may not fit where `(x)` would: the item
    # must still be followed by a comma, or the value is not a tuple at all.
    event = "E" + "x" * (width - len("_EVENTS = (,)") - 1)
    source = (
        f"process P {{ key id event {event} {{ id: str }}"
        f" machine M {{ states A, B initial A final B transition go: A -> B on {event} }} }}"
    )

    code = compile_text(source)

    value = next(
        node
        for node in ast.parse(code).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "_EVENTS"
    )
    assert isinstance(value.value, ast.Tuple), code
    text = ast.get_source_segment(code, value)
    assert text is not None
    assert all(len(line) <= LINE_LENGTH for line in text.splitlines())
