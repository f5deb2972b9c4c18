"""pmc columns count characters from 1; LSP columns count UTF-16 code units from 0."""

from __future__ import annotations

from lsprotocol.types import Position, Range

from pmc.lsp.positions import from_position, to_position, to_range
from pmc.source import SourceFile, Span

# `é` is one UTF-16 unit, `🎁` (outside the Basic Multilingual Plane) two.
SOURCE = SourceFile("x.pm", 'process P {\n    note: str = "é🎁" x\n}\n')


def test_an_ascii_column_is_one_less() -> None:
    assert to_position(SOURCE, 1, 9) == Position(line=0, character=8)


def test_a_character_outside_the_bmp_counts_twice() -> None:
    # `x` is character 22 of line 2, after `é` (one unit) and `🎁` (two).
    assert SOURCE.line_text(2)[21] == "x"
    assert to_position(SOURCE, 2, 22) == Position(line=1, character=22)


def test_a_span_becomes_a_range() -> None:
    # `é🎁`: two characters, three units.
    assert to_range(SOURCE, Span(2, 18, 2, 20)) == Range(
        start=Position(line=1, character=17), end=Position(line=1, character=20)
    )


def test_positions_convert_back_to_the_same_columns() -> None:
    for column in range(1, len(SOURCE.line_text(2)) + 2):
        assert from_position(SOURCE, to_position(SOURCE, 2, column)) == (2, column)


def test_a_column_past_the_end_of_the_line_stays_past_it() -> None:
    assert to_position(SOURCE, 3, 5) == Position(line=2, character=4)
    assert from_position(SOURCE, Position(line=2, character=4)) == (3, 5)
