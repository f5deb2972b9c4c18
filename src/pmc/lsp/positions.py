"""pmc spans to LSP positions and back.

A :class:`~pmc.source.Span` counts lines and columns from 1, and a column
counts characters (code points) of the line, as Python strings index them.
LSP counts both from 0, and a column counts code units of the encoding the
client and the server agreed on at start-up: UTF-16 unless the client offers
another (Neovim and Helix prefer UTF-8). A character outside the Basic
Multilingual Plane (an emoji in a comment or a string) is one pmc column,
two UTF-16 units and four UTF-8 bytes. Converting needs the line's text:
:class:`Positions` holds the source and the encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol.types import Position, PositionEncodingKind, Range

from pmc.source import SourceFile, Span

UTF16 = PositionEncodingKind.Utf16.value


def _width(character: str, encoding: str) -> int:
    """How many code units of ``encoding`` one character takes."""
    if encoding == PositionEncodingKind.Utf8:
        return len(character.encode("utf-8", errors="surrogatepass"))
    if encoding == PositionEncodingKind.Utf32:
        return 1
    return 2 if ord(character) > 0xFFFF else 1


@dataclass(frozen=True, slots=True)
class Positions:
    """Places in ``source`` as LSP positions counted in ``encoding``, and back."""

    source: SourceFile
    encoding: str = UTF16

    def position(self, line: int, column: int) -> Position:
        """The LSP position of 1-based ``line`` and character ``column``.

        A column past the end of its line (an end-of-file caret) stays past the
        end by the same number of characters, which editors clamp.
        """
        text = self.source.line_text(line)
        prefix = text[: max(column - 1, 0)]
        overflow = max(column - 1 - len(text), 0)
        units = sum(_width(character, self.encoding) for character in prefix)
        return Position(line=max(line - 1, 0), character=units + overflow)

    def range(self, span: Span) -> Range:
        return Range(
            start=self.position(span.line, span.column),
            end=self.position(span.end_line, span.end_column),
        )

    def place(self, position: Position) -> tuple[int, int]:
        """The 1-based (line, character column) of an LSP position, clamped to the source.

        As LSP says, a column past the end of its line is the line's end, and
        a line past the last one is the end of the file (a client may send
        any number: looking one line up costs the same whatever it is). A
        position inside a character's code units (which no editor should
        send) is the character after it.
        """
        if position.line >= self.source.line_count:
            last = self.source.line_count
            return last, len(self.source.line_text(last)) + 1
        text = self.source.line_text(position.line + 1)
        units = 0
        for index, character in enumerate(text):
            if units >= position.character:
                return position.line + 1, index + 1
            units += _width(character, self.encoding)
        return position.line + 1, len(text) + 1

    def end(self) -> Position:
        """The position after the last character of the source."""
        last = self.source.line_count
        return self.position(last, len(self.source.line_text(last)) + 1)
