"""Weaves the comments back into the laid-out lines and decides the blank lines.

The AST does not hold comments, so each one is placed by its source position
relative to the lines' source ranges:

- between two lines, a comment that followed code on its source line stays
  at the end of the previous line (a trailing comment);
- any other comment between two lines goes on its own line before the next
  one, at that line's indentation (one level deeper before a `}` or `)`, so
  that comments closing a block stay inside it);
- a comment inside a line's range (the line joined tokens the author had
  split around it) moves to its own line before that line.

A comment only ever moves across tokens of the line it ends up next to, never
past another comment, so the order of comments never changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.printer import INDENT, Kind, Line, Pos, start_of


class _Blank(Enum):
    ONE = "one"  # always exactly one blank line
    KEEP = "keep"  # one blank line if the source had at least one
    NONE = "none"


@dataclass(frozen=True, slots=True)
class _Comment:
    text: str
    pos: Pos
    trailing: bool  # code precedes it on its source line

    @property
    def line(self) -> int:
        return self.pos[0]


def weave(lines: Sequence[Line], comments: Iterable[ast.Comment], source: SourceFile) -> str:
    pending = deque(sorted((_comment(c, source) for c in comments), key=lambda c: c.pos))
    writer = _Writer(source)
    for line in lines:
        before = _take_before(pending, line.start)
        inside = _take_before(pending, line.end)
        writer.code_line(line, before, inside)
    writer.end_of_file(list(pending))
    return writer.text()


def _comment(comment: ast.Comment, source: SourceFile) -> _Comment:
    code_before = source.line_text(comment.span.line)[: comment.span.column - 1]
    return _Comment(comment.text.rstrip(), start_of(comment.span), bool(code_before.strip()))


def _take_before(pending: deque[_Comment], limit: Pos) -> list[_Comment]:
    taken = []
    while pending and pending[0].pos < limit:
        taken.append(pending.popleft())
    return taken


def _group_start(kind: Kind, with_comments: bool) -> _Blank:
    """Blank lines before a line, or before the comments that lead it."""
    if kind is Kind.TOP:
        return _Blank.ONE
    if kind is Kind.MEMBER or (kind is Kind.CLOSE and with_comments):
        return _Blank.KEEP
    return _Blank.NONE


def _after_comment(kind: Kind) -> _Blank:
    """Blank lines between a leading comment and its line."""
    return _Blank.KEEP if kind in (Kind.TOP, Kind.MEMBER) else _Blank.NONE


class _Writer:
    """Accumulates output lines; private to :func:`weave`, which stays pure."""

    def __init__(self, source: SourceFile) -> None:
        self._source = source
        self._out: list[str] = []
        self._last_code: int | None = None  # index in _out of the last code line
        self._last_code_commented = False
        self._last_source_line = 0
        self._last_opens = False

    def code_line(self, line: Line, before: list[_Comment], inside: list[_Comment]) -> None:
        if before and before[0].trailing and self._can_trail():
            self._trail(before.pop(0))
        leading = before + inside
        comment_indent = line.indent + INDENT if line.kind is Kind.CLOSE and before else line.indent
        for number, comment in enumerate(leading):
            policy = _group_start(line.kind, True) if number == 0 else _Blank.KEEP
            self._blank(policy, comment.line)
            self._emit(comment_indent, comment.text, comment.line)
        policy = _after_comment(line.kind) if leading else _group_start(line.kind, False)
        self._blank(policy, line.start[0])
        self._emit(line.indent, line.text, line.end[0])
        self._last_code = len(self._out) - 1
        self._last_code_commented = False
        self._last_opens = line.opens

    def end_of_file(self, comments: list[_Comment]) -> None:
        if comments and comments[0].trailing and self._can_trail():
            self._trail(comments.pop(0))
        for comment in comments:
            self._blank(_Blank.KEEP, comment.line)
            self._emit(0, comment.text, comment.line)

    def text(self) -> str:
        return "\n".join(self._out) + "\n"

    def _can_trail(self) -> bool:
        return self._last_code == len(self._out) - 1 and not self._last_code_commented

    def _trail(self, comment: _Comment) -> None:
        assert self._last_code is not None
        self._out[self._last_code] += f"  {comment.text}"
        self._last_code_commented = True
        self._last_source_line = max(self._last_source_line, comment.line)

    def _emit(self, indent: int, text: str, source_line: int) -> None:
        self._out.append(" " * indent + text)
        self._last_source_line = source_line
        self._last_opens = False

    def _blank(self, policy: _Blank, next_source_line: int) -> None:
        if not self._out or self._last_opens or policy is _Blank.NONE:
            return
        if policy is _Blank.ONE or self._source_has_blank(self._last_source_line, next_source_line):
            self._out.append("")

    def _source_has_blank(self, after: int, before: int) -> bool:
        return any(not self._source.line_text(n).strip() for n in range(after + 1, before))
