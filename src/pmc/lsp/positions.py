"""pmc spans to LSP positions and back.

A :class:`~pmc.source.Span` counts lines and columns from 1, and a column
counts characters (code points) of the line, as Python strings index them.
LSP counts both from 0, and by default a column counts UTF-16 code units: a
character outside the Basic Multilingual Plane (an emoji in a comment or a
string) is one pmc column but two LSP columns. Converting needs the line's
text, so every function here takes the :class:`~pmc.source.SourceFile`.
"""

from __future__ import annotations

from lsprotocol.types import Position, Range

from pmc.source import SourceFile, Span


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def to_position(source: SourceFile, line: int, column: int) -> Position:
    """The LSP position of 1-based ``line`` and character ``column``.

    A column past the end of its line (an end-of-file caret) stays past the end
    by the same number of characters, which editors clamp.
    """
    text = source.line_text(line)
    prefix = text[: max(column - 1, 0)]
    overflow = max(column - 1 - len(text), 0)
    return Position(line=max(line - 1, 0), character=_utf16_length(prefix) + overflow)


def to_range(source: SourceFile, span: Span) -> Range:
    return Range(
        start=to_position(source, span.line, span.column),
        end=to_position(source, span.end_line, span.end_column),
    )


def from_position(source: SourceFile, position: Position) -> tuple[int, int]:
    """The 1-based (line, character column) of an LSP position.

    A position inside a surrogate pair (which no editor should send) is the
    character after that pair.
    """
    text = source.line_text(position.line + 1)
    units = 0
    for index, character in enumerate(text):
        if units >= position.character:
            return position.line + 1, index + 1
        units += 2 if ord(character) > 0xFFFF else 1
    return position.line + 1, len(text) + 1 + max(position.character - units, 0)
