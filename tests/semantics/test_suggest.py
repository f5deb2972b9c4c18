"""Spelling suggestions ("did you mean") stay cheap on hostile input (issue #8, item 11)."""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable

import pytest

from pmc.compiler import check_source
from pmc.semantics.suggest import (
    COMPARISON_BUDGET,
    MAX_SUGGESTED_LENGTH,
    comparisons,
    did_you_mean,
)
from pmc.source import SourceFile


def misspelt_states(states: int, references: int, length: int) -> str:
    """A machine of ``states`` long state names, and ``references`` misspelt targets."""
    names = [f"S{i:05d}" + "x" * (length - 6) for i in range(states)]
    transitions = "".join(
        f"        transition t{i}: {names[0]} -> {names[i % states][:-1]}y on Go\n"
        for i in range(references)
    )
    return (
        "process P {\n    key id\n    event Go { id: str }\n    machine M {\n"
        f"        states {', '.join(names)}\n        initial {names[0]}\n"
        f"        final {names[-1]}\n{transitions}    }}\n}}\n"
    )


def counting_ratios(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the expensive comparisons (``SequenceMatcher.ratio``) from now on."""
    calls = [0]
    ratio = difflib.SequenceMatcher.ratio

    def counted(self: difflib.SequenceMatcher[str]) -> float:
        calls[0] += 1
        return ratio(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counted)
    return lambda: calls[0]


def test_each_misspelt_name_is_compared_with_a_bounded_number_of_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before the bound every unknown name was compared with all 1,000 states.
    ratios = counting_ratios(monkeypatch)
    result = check_source(SourceFile("h.pm", misspelt_states(1_000, 40, 40)))
    unknown = [d for d in result.diagnostics if d.id == "PM0203"]
    assert len(unknown) == 40
    assert all(d.help and d.help.startswith("did you mean `S") for d in unknown)
    per_name = COMPARISON_BUDGET // (40 * 40)
    assert ratios() <= 40 * per_name


def test_checking_many_misspelt_long_names_is_fast() -> None:
    # 300 misspellings of 2,000 state names of 200 characters took 39 s.
    text = misspelt_states(2_000, 300, 200)
    start = time.perf_counter()
    result = check_source(SourceFile("h.pm", text))
    seconds = time.perf_counter() - start
    assert sum(d.id == "PM0203" for d in result.diagnostics) == 300
    assert seconds < 10.0


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
def test_suggestions_of_small_scopes_are_difflibs(
    name: str, candidates: list[str], expected: str | None
) -> None:
    folded = {c.casefold(): c for c in candidates}
    best = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    assert (folded[best[0]] if best else None) == expected
    assert did_you_mean(name, candidates) == (f"did you mean `{expected}`?" if expected else None)
