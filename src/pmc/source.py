"""Source text and positions: shared by every stage that points into a file."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; the end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> Span:
        return Span(line, column, line, column + 1)

    def cover(self, other: Span) -> Span:
        """The smallest span holding both ``self`` and ``other``."""
        start = min((self.line, self.column), (other.line, other.column))
        end = max((self.end_line, self.end_column), (other.end_line, other.end_column))
        return Span(start[0], start[1], end[0], end[1])


@dataclass(frozen=True)
class SourceFile:
    """A file's display path and its text, with line lookup for rendering.

    Line endings are normalized on construction: ``\r\n`` and a lone ``\r``
    become ``\n``, so every stage, every position and the generated module's
    source hash see LF lines whatever editor wrote the file.
    ``line_endings_normalized`` records that the text given was changed.

    ``truncated`` marks a file the reader stopped reading because it is longer
    than the parser accepts; ``text`` then holds only its beginning and the
    parser reports it as too large.
    """

    path: str
    text: str
    truncated: bool = False
    line_endings_normalized: bool = field(init=False, default=False, compare=False)
    _line_starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if "\r" in self.text:
            normalized = self.text.replace("\r\n", "\n").replace("\r", "\n")
            object.__setattr__(self, "text", normalized)
            object.__setattr__(self, "line_endings_normalized", True)
        starts = [0]
        # str.find runs in C: a per-character loop takes a second on 5 MB.
        newline = self.text.find("\n")
        while newline != -1:
            starts.append(newline + 1)
            newline = self.text.find("\n", newline + 1)
        object.__setattr__(self, "_line_starts", tuple(starts))

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` without its newline ('' past the end)."""
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def offset(self, line: int, column: int) -> int:
        """The character offset of 1-based ``line`` and ``column`` (a line in the file)."""
        return self._line_starts[line - 1] + column - 1

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        index = bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1
