"""Spelling suggestions ("did you mean") stay cheap on hostile input (issue #8, item 11).

The matcher itself is tested in tests/diagnostics/test_suggest.py; these check
that the checks of a whole hostile file stay within its bounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pmc.compiler import check_source
from pmc.diagnostics import suggest
from pmc.diagnostics.suggest import COMPARISON_BUDGET
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


def counting_distances(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the expensive comparisons (``edit_distance``) from now on."""
    calls = [0]
    distance = suggest.edit_distance

    def counted(a: str, b: str) -> int:
        calls[0] += 1
        return distance(a, b)

    monkeypatch.setattr(suggest, "edit_distance", counted)
    return lambda: calls[0]


def test_each_misspelt_name_is_compared_with_a_bounded_number_of_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before the bound every unknown name was compared with all 1,000 states.
    distances = counting_distances(monkeypatch)
    result = check_source(SourceFile("h.pm", misspelt_states(1_000, 40, 40)))
    unknown = [d for d in result.diagnostics if d.id == "PM0203"]
    assert len(unknown) == 40
    assert all(d.help and d.help.startswith("did you mean `S") for d in unknown)
    per_name = COMPARISON_BUDGET // (40 * 40)
    assert distances() <= 40 * per_name


def test_checking_many_misspelt_long_names_is_fast() -> None:
    # 300 misspellings of 2,000 state names of 200 characters took 39 s.
    text = misspelt_states(2_000, 300, 200)
    start = time.perf_counter()
    result = check_source(SourceFile("h.pm", text))
    seconds = time.perf_counter() - start
    assert sum(d.id == "PM0203" for d in result.diagnostics) == 300
    assert seconds < 10.0
