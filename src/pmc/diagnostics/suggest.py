"""One "did you mean" for misspelled keywords, names and codes.

The syntax stage asks it about a word where a keyword belongs (``tsak``), the
checks about an unknown state, event, task, field or type (``Payed``), and
``pmc explain`` about an unknown code: the same slip gets the same help
wherever it is made.

A suggestion is the candidate fewest edits away (an edit inserts, deletes or
replaces a letter, or swaps two neighbours), case ignored, because the
commonest slip is the case of a type or state (``uuid`` for ``UUID``). How
many edits are allowed depends on the longer of the two words: none when it
has at most two letters (only the case may differ), one up to four letters,
two beyond. Ties go to the candidate first in alphabetical order (case
ignored), so the help never depends on the order of declarations.

The work of one suggestion is bounded, whatever the number and length of the
names: comparing two names costs the product of their lengths, and a hostile
file with hundreds of misspelt references to thousands of long names took
minutes to check (issue #8). So a name longer than MAX_SUGGESTED_LENGTH gets
no suggestion and is never offered, and the name is compared with the
candidates nearest to it in length (ties in name order; lengths further
apart than the edits allowed cannot match) until the products of the lengths
compared reach COMPARISON_BUDGET (always at least one). Real scopes fit the
budget many times over (about a hundred names of twelve letters).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

MAX_SUGGESTED_LENGTH = 64
COMPARISON_BUDGET = 16_384
# The most edits max_edits ever allows, hence the widest gap in length.
_MOST_EDITS = 2


def max_edits(length: int, other: int) -> int:
    """How many edits apart two words of these lengths may be and still match."""
    longer = max(length, other)
    if longer <= 2:
        return 0
    return 1 if longer <= 4 else _MOST_EDITS


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


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
    """Folded candidates that could be close enough, nearest in length first, within budget."""
    spent = 0
    for gap in range(_MOST_EDITS + 1):
        for other in dict.fromkeys(s for s in (size - gap, size + gap) if s > 0):
            if gap > max_edits(size, other):
                continue  # each letter of difference in length is an edit
            for candidate in index.by_length.get(other, ()):
                if spent and spent + size * other > COMPARISON_BUDGET:
                    return
                spent += size * other
                yield candidate


def comparisons(name: str, candidates: Iterable[str]) -> list[str]:
    """The candidates (folded) that :func:`suggest` compares ``name`` with."""
    return list(_compared(_index(tuple(candidates)), name.casefold()))


def _compared(index: _Index, folded: str) -> Iterator[str]:
    if not folded or len(folded) > MAX_SUGGESTED_LENGTH:
        return iter(())
    return _nearest_in_length(index, len(folded))


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is most likely a misspelling of, or None.

    A candidate spelt exactly like ``name`` is not a misspelling of it.
    """
    index = _index(tuple(candidates))
    folded = name.casefold()
    best: tuple[int, str] | None = None
    for candidate in _compared(index, folded):
        if index.original[candidate] == name:
            continue
        distance = edit_distance(folded, candidate)
        if distance <= max_edits(len(folded), len(candidate)) and (
            best is None or (distance, candidate) < best
        ):
            best = (distance, candidate)
    return index.original[best[1]] if best is not None else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean `X`?`` for the :func:`suggest`-ion, or None."""
    suggestion = suggest(name, candidates)
    return f"did you mean `{suggestion}`?" if suggestion is not None else None
