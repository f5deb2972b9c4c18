"""Helpers shared by the checks: spelling suggestions and duplicate detection."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from pmc.diagnostics import Diagnostic, Label
from pmc.source import Span

_T = TypeVar("_T")

# difflib's default: a suggestion must be at least this similar.
_CUTOFF = 0.6
# The work of one suggestion is bounded, whatever the number and length of the
# names: comparing two names costs up to the product of their lengths, and a
# hostile file with hundreds of misspelt references to thousands of long names
# took minutes to check (issue #8). So a name longer than MAX_SUGGESTED_LENGTH
# gets no suggestion and is never offered, and the unknown name is compared
# with the candidates nearest to it in length (ties in name order) until the
# products of the lengths compared reach COMPARISON_BUDGET (always at least
# one). Real scopes fit the budget many times over (about a hundred names of
# twelve letters), so their suggestions are the ones difflib gives over every
# candidate.
MAX_SUGGESTED_LENGTH = 64
COMPARISON_BUDGET = 16_384


@dataclass(frozen=True, slots=True)
class _Index:
    """The candidates of one scope, folded, grouped by length (each group sorted)."""

    original: dict[str, str]  # folded -> the first candidate that folds to it
    by_length: dict[int, tuple[str, ...]]


@lru_cache(maxsize=64)
def _index(candidates: tuple[str, ...]) -> _Index:
    # Built once per scope and shared by every suggestion in it: going over a
    # scope's thousands of names again for each unknown name is quadratic.
    original: dict[str, str] = {}
    for candidate in candidates:
        if len(candidate) <= MAX_SUGGESTED_LENGTH:
            original.setdefault(candidate.casefold(), candidate)
    groups: dict[int, list[str]] = {}
    for folded in original:
        groups.setdefault(len(folded), []).append(folded)
    return _Index(original, {size: tuple(sorted(names)) for size, names in groups.items()})


def _nearest_in_length(index: _Index, size: int) -> Iterator[str]:
    """Folded candidates that could reach the cutoff, nearest in length first, within budget.

    A candidate of length ``other`` scores at most ``2 * min / (size + other)``
    (difflib's ``real_quick_ratio``), so longer or shorter ones are skipped.
    """
    spent = 0
    for distance in range(MAX_SUGGESTED_LENGTH + 1):
        sizes = dict.fromkeys(s for s in (size - distance, size + distance) if s > 0)
        fits = [s for s in sizes if 2 * min(s, size) / (s + size) >= _CUTOFF]
        if not fits:
            return
        for other in fits:
            for candidate in index.by_length.get(other, ()):
                if spent and spent + size * other > COMPARISON_BUDGET:
                    return
                spent += size * other
                yield candidate


def comparisons(name: str, candidates: Iterable[str]) -> list[str]:
    """The candidates (folded) that :func:`did_you_mean` compares ``name`` with."""
    return list(_compared(_index(tuple(candidates)), name.casefold()))


def _compared(index: _Index, folded: str) -> Iterator[str]:
    if not folded or len(folded) > MAX_SUGGESTED_LENGTH:
        return iter(())
    return _nearest_in_length(index, len(folded))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A ``help`` text naming the closest candidate, or None.

    Case is ignored when matching because the commonest slip is the case of a
    type or state (``uuid`` for ``UUID``), which difflib scores as unrelated.
    The closest is the one of highest difflib ratio (at least 0.6; ties go to
    the greater name), as ``difflib.get_close_matches`` chooses, among the
    candidates :func:`comparisons` allows.
    """
    index = _index(tuple(candidates))
    matcher = difflib.SequenceMatcher()
    folded = name.casefold()
    matcher.set_seq2(folded)
    best: tuple[float, str] | None = None
    for candidate in _compared(index, folded):
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() < _CUTOFF or matcher.quick_ratio() < _CUTOFF:
            continue
        score = matcher.ratio()
        if score >= _CUTOFF and (best is None or (score, candidate) > best):
            best = (score, candidate)
    if best is None:
        return None
    return f"did you mean `{index.original[best[1]]}`?"


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


def first_by_name(items: Iterable[_T], name_of: Callable[[_T], str]) -> dict[str, _T]:
    """Items keyed by name; the first declaration wins (later ones are duplicates)."""
    table: dict[str, _T] = {}
    for item in items:
        table.setdefault(name_of(item), item)
    return table
