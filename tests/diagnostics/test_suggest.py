"""One "did you mean" for keywords, names and codes, bounded on hostile input (issue #8)."""

from __future__ import annotations

import difflib

import pytest

from pmc.diagnostics.suggest import (
    COMPARISON_BUDGET,
    MAX_SUGGESTED_LENGTH,
    comparisons,
    did_you_mean,
    edit_distance,
    suggest,
)


@pytest.mark.parametrize(
    ("word", "keywords", "suggestion"),
    [
        ("trnasition", ["transition", "states"], "transition"),
        ("Transition", ["transition"], "transition"),
        ("tsak", ["task", "event"], "task"),
        ("onn", ["on"], "on"),
        ("E", ["on"], None),  # a name is not a misspelled keyword just for being short
        ("Closing", ["final", "initial", "states", "transition"], None),
    ],
)
def test_misspelled_keywords(word: str, keywords: list[str], suggestion: str | None) -> None:
    assert suggest(word, keywords) == suggestion


def test_edit_distance_counts_a_swap_as_one_edit() -> None:
    assert [edit_distance("tsak", "task"), edit_distance("task", "task")] == [1, 0]
    assert [edit_distance("", "abc"), edit_distance("kitten", "sitting")] == [3, 3]


def test_the_names_compared_fit_the_budget_nearest_length_first() -> None:
    candidates = [f"N{i:03d}" + "q" * (i % 30) for i in range(1_000)]
    compared = comparisons("N500qqqqqqqqqq", candidates)
    assert 0 < len(compared) < len(candidates)
    assert sum(len(c) * 14 for c in compared) <= COMPARISON_BUDGET
    lengths = [abs(len(c) - 14) for c in compared]
    assert lengths == sorted(lengths)


def test_a_name_longer_than_the_limit_gets_no_suggestion() -> None:
    long_name = "a" * (MAX_SUGGESTED_LENGTH + 1)
    assert did_you_mean(long_name, [long_name[:-1] + "b"]) is None
    assert comparisons(long_name, [long_name]) == []


@pytest.mark.parametrize(
    ("name", "candidates", "expected"),
    [
        ("Payed", ["Waiting", "Charging", "Paid", "Declined"], "Paid"),
        ("uuid", ["str", "UUID", "int"], "UUID"),
        ("Chargng", ["Charging", "Changing"], "Charging"),
        ("zzz", ["Paid"], None),
    ],
)
def test_suggestions_of_small_scopes_are_the_ones_difflib_gave(
    name: str, candidates: list[str], expected: str | None
) -> None:
    # The checks used difflib's ratio before keywords and names shared one matcher.
    folded = {c.casefold(): c for c in candidates}
    best = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    assert (folded[best[0]] if best else None) == expected
    assert did_you_mean(name, candidates) == (f"did you mean `{expected}`?" if expected else None)
