"""Line layout that ``ruff format`` leaves alone, as far as templates can tell.

The rendered module goes through ``ruff format`` (:mod:`.formatter`), which has
the final word; laying lines out the way it would keeps its changes rare and
the templates readable. Two layouts are stable under ruff: a bracketed list
that fits on one line, written on one line; and one item per line ending with
a trailing comma, which ruff keeps exploded ("magic trailing comma").
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from pmc.codegen.formatter import LINE_LENGTH

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
    if len(items) == 1:
        one_line = f"{head}({items[0]},)"
        if "\n" not in one_line and indent + len(one_line) + reserve <= LINE_LENGTH:
            return one_line
        # Exploded, with its comma: `(x)` may fit where `(x,)` does not, and
        # is no tuple.
        inner = " " * (indent + len(INDENT))
        return f"{head}(\n{inner}{items[0]},\n{' ' * indent})"
    return bracketed(indent, f"{head}(", items, ")", reserve=reserve)


def docstring(indent: int, *paragraphs: str) -> str:
    """The text between a docstring's triple quotes, wrapped to the line length.

    One paragraph that fits stays on the quotes' line; otherwise the text is
    wrapped at spaces (ruff never wraps a docstring itself) and the closing
    quotes go on a line of their own. Blank lines carry no indentation.
    """
    if len(paragraphs) == 1 and indent + len(paragraphs[0]) + 6 <= LINE_LENGTH:
        return paragraphs[0]
    lines: list[str] = []
    for number, paragraph in enumerate(paragraphs):
        if number:
            lines.append("")
        opening = '"""' if number == 0 else ""
        wrapped = textwrap.wrap(
            paragraph,
            width=LINE_LENGTH - indent,
            initial_indent=opening,
            break_long_words=False,
            break_on_hyphens=False,
        )
        wrapped[0] = wrapped[0][len(opening) :]
        if len(paragraphs) == 1 and len(wrapped) == 1 and " " in wrapped[0]:
            # Fits beside the opening quotes but not with the closing ones:
            # ruff would join a lone line with the closing quotes again.
            wrapped = list(wrapped[0].rpartition(" ")[::2])
        lines += wrapped
    margin = " " * indent
    rest = "".join(f"\n{margin}{line}" if line else "\n" for line in lines[1:])
    return f"{lines[0]}{rest}\n{margin}"
