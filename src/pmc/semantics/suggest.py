"""Helpers shared by the checks: spelling suggestions and duplicate detection."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from pmc.diagnostics import Diagnostic, Label
from pmc.source import Span

_T = TypeVar("_T")


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A ``help`` text naming the closest candidate, or None.

    Case is ignored when matching because the commonest slip is the case of a
    type or state (``uuid`` for ``UUID``), which difflib scores as unrelated.
    """
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.casefold(), candidate)
    matches = difflib.get_close_matches(name.casefold(), list(by_folded), n=1)
    if not matches:
        return None
    return f"did you mean `{by_folded[matches[0]]}`?"


def duplicates(
    items: Iterable[_T],
    name_of: Callable[[_T], str],
    span_of: Callable[[_T], Span],
    code: str,
    describe: Callable[[str], str],
    label: str = "declared again here",
) -> Iterator[Diagnostic]:
    """One diagnostic for every item whose name an earlier item already took."""
    first: dict[str, Span] = {}
    for item in items:
        name = name_of(item)
        span = span_of(item)
        if name in first:
            yield Diagnostic(
                code,
                describe(name),
                span,
                label=label,
                secondary=(Label(first[name], "first declared here"),),
            )
        else:
            first[name] = span


def first_by_name(items: Iterable[_T], name_of: Callable[[_T], str]) -> dict[str, _T]:
    """Items keyed by name; the first declaration wins (later ones are duplicates)."""
    table: dict[str, _T] = {}
    for item in items:
        table.setdefault(name_of(item), item)
    return table
