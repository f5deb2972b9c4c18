"""Line layout that ``ruff format`` leaves alone.

The generated module is written already formatted, so the compiler does not
need a formatter at run time (a test checks that ``ruff format --isolated``
changes nothing). Two layouts are stable under ruff: a bracketed list that
fits on one line, written on one line; and one item per line ending with a
trailing comma, which ruff keeps exploded ("magic trailing comma").
"""

from __future__ import annotations

from collections.abc import Sequence

# ruff's default line length, which ``--isolated`` uses.
LINE_LENGTH = 88
INDENT = "    "


def bracketed(indent: int, head: str, items: Sequence[str], tail: str, *, reserve: int = 0) -> str:
    """``head`` + items joined by ``, `` + ``tail``, exploded if it would not fit.

    ``indent`` is the column the text starts at; ``reserve`` counts characters
    that follow it on its last line (a comma in an enclosing list). Items may
    span lines; they must be laid out for column ``indent + 4``.
    """
    one_line = f"{head}{', '.join(items)}{tail}"
    fits = indent + len(one_line) + reserve <= LINE_LENGTH
    if not items or (fits and "\n" not in one_line):
        return one_line
    inner = " " * (indent + len(INDENT))
    body = "".join(f"\n{inner}{item}," for item in items)
    return f"{head}{body}\n{' ' * indent}{tail}"


def assignment(indent: int, target: str, value: str) -> str:
    """``target = value``; a long string value is parenthesized where that makes it fit.

    (ruff splits a long call at its own brackets instead, so only strings.)
    """
    line = f"{target} = {value}"
    if not value.startswith(('"', "'")) or indent + len(line) <= LINE_LENGTH:
        return line
    inner = " " * (indent + len(INDENT))
    if len(inner) + len(value) <= LINE_LENGTH:
        return f"{target} = (\n{inner}{value}\n{' ' * indent})"
    return line


def tuple_display(indent: int, head: str, items: Sequence[str], *, reserve: int = 0) -> str:
    """A tuple: ``()``, ``(x,)`` or ``(x, y)``; exploded like :func:`bracketed` when too long."""
    if len(items) == 1 and "\n" not in items[0]:
        one_line = f"{head}({items[0]},)"
        if indent + len(one_line) + reserve <= LINE_LENGTH:
            return one_line
    return bracketed(indent, f"{head}(", items, ")", reserve=reserve)
