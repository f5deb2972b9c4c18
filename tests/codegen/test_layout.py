"""The line layout of generated code: what ``ruff format`` leaves alone, and valid Python."""

from __future__ import annotations

import ast

import pytest

from pmc.codegen.formatter import LINE_LENGTH
from pmc.codegen.layout import tuple_display


@pytest.mark.parametrize("width", range(LINE_LENGTH - 8, LINE_LENGTH + 3))
def test_a_one_item_tuple_stays_a_tuple_at_every_width(width: int) -> None:
    # Around the line length, `(x,)` may not fit where `(x)` would: the item
    # must still be followed by a comma, or the value is not a tuple at all.
    item = "x" * (width - len("value = (,)"))

    text = tuple_display(0, "value = ", [item])

    value = ast.parse(text).body[0]
    assert isinstance(value, ast.Assign)
    assert isinstance(value.value, ast.Tuple), text
    assert all(len(line) <= LINE_LENGTH for line in text.splitlines())
