"""pmc columns count characters from 1; LSP columns count code units from 0 (UTF-16 by default)."""

from __future__ import annotations

import pytest
from lsprotocol.types import Position, Range

from pmc.lsp.positions import Positions
from pmc.source import SourceFile, Span

# `é` is one UTF-16 unit and two UTF-8 bytes, `🎁` (outside the Basic
# Multilingual Plane) two UTF-16 units and four UTF-8 bytes.
SOURCE = SourceFile("x.pm", 'process P {\n    note: str = "é🎁" x\n}\n')
UTF16 = Positions(SOURCE)


def test_an_ascii_column_is_one_less() -> None:
    assert UTF16.position(1, 9) == Position(line=0, character=8)


@pytest.mark.parametrize(("encoding", "character"), [("utf-16", 22), ("utf-8", 25), ("utf-32", 21)])
def test_a_column_counts_the_code_units_of_the_encoding(encoding: str, character: int) -> None:
    # `x` is character 22 of line 2, after `é` and `🎁`.
    assert SOURCE.line_text(2)[21] == "x"
    assert Positions(SOURCE, encoding).position(2, 22) == Position(line=1, character=character)


def test_a_span_becomes_a_range() -> None:
    # `é🎁`: two characters, three UTF-16 units.
    assert UTF16.range(Span(2, 18, 2, 20)) == Range(
        start=Position(line=1, character=17), end=Position(line=1, character=20)
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_positions_convert_back_to_the_same_columns(encoding: str) -> None:
    positions = Positions(SOURCE, encoding)
    for column in range(1, len(SOURCE.line_text(2)) + 2):
        assert positions.place(positions.position(2, column)) == (2, column)


def test_a_span_past_the_end_of_the_line_stays_past_it() -> None:
    assert UTF16.position(3, 5) == Position(line=2, character=4)


def test_a_request_past_the_end_of_a_line_is_at_its_end() -> None:
    # LSP: "If the character value is greater than the line length it defaults
    # back to the line length."
    assert UTF16.place(Position(line=2, character=4)) == (3, 2)


def test_a_request_past_the_last_line_is_at_the_end_of_the_file() -> None:
    assert UTF16.place(Position(line=2**31 - 1, character=7)) == (4, 1)


def test_the_end_is_after_the_last_character() -> None:
    assert UTF16.end() == Position(line=3, character=0)
