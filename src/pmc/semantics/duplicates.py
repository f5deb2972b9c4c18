"""Duplicate declarations: the first one of a name counts, each later one is reported."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from pmc.diagnostics import Diagnostic, Label
from pmc.source import Span

_T = TypeVar("_T")


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
                labels=(Label(first[name], "first declared here"),),
            )
        else:
            first[name] = span
