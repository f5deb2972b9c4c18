"""The documentation of a diagnostic code or a breaking-change rule, for ``pmc explain``.

The reference pages are the single source: ``docs/diagnostics.md`` documents
every ``PMxxxx`` code, ``docs/breaking.md`` every rule of ``pmc breaking``
and ``docs/replay.md`` every rule of ``pmc replay``, each under a heading
``## CODE: title``. The wheel ships the three pages (see
``pyproject.toml``), so ``pmc explain`` works where pmc is installed, not only
in a checkout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pmc._resources import read_text

DOC_PAGES = ("diagnostics.md", "breaking.md", "replay.md")

_ENTRY = re.compile(r"## (?P<code>[A-Z][A-Z0-9_]+):")
_SECTION_END = re.compile(r"#{1,2} |---+\s*$")


def _chunks(markdown: str) -> Iterator[list[str]]:
    """The lines of ``markdown``, cut before each heading of level 1 or 2 and each rule.

    Lines inside fenced code blocks never cut (a ``# comment`` in an example
    is not a heading).
    """
    chunk: list[str] = []
    in_fence = False
    for line in markdown.split("\n"):
        if not in_fence and _SECTION_END.match(line):
            yield chunk
            chunk = []
        if line.startswith("```"):
            in_fence = not in_fence
        chunk.append(line)
    yield chunk


def sections(markdown: str) -> dict[str, str]:
    """Each ``## CODE: title`` section by code: its heading and text, up to the next section."""
    found: dict[str, str] = {}
    for chunk in _chunks(markdown):
        entry = _ENTRY.match(chunk[0]) if chunk else None
        if entry:
            found.setdefault(entry["code"], "\n".join(chunk).strip("\n") + "\n")
    return found


def all_sections(read: Callable[[str], str] | None = None) -> dict[str, str]:
    """Every documented code and rule; ``read`` maps a page name to its text."""
    reader = read or (lambda page: read_text("docs", page))
    merged: dict[str, str] = {}
    for page in DOC_PAGES:
        for code, text in sections(reader(page)).items():
            merged.setdefault(code, text)
    return merged


def explain(code: str, read: Callable[[str], str] | None = None) -> str | None:
    """The documentation of ``code`` (any case), or None when nothing documents it."""
    return all_sections(read).get(code.strip().upper())
