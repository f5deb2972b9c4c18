"""Properties of ``pmc fmt`` over generated and mutated programs.

For any text that parses, the formatted text parses to the same tree (spans
aside), keeps the same comments in the same order, is already formatted, and
has the canonical shape.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.fmt.strategies import (
    generated_programs,
    reflowed,
    second_edition_programs,
    with_comments_at_line_ends,
)
from tests.fmt.support import EXAMPLE_FILES, assert_formatting_is_safe, parses

_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


def assert_canonical_shape(text: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] != "", "ends with exactly one newline"
    assert "\r" not in text
    assert "\n\n\n" not in text, "never two blank lines in a row"
    for line, following in pairwise(lines):
        assert line == line.rstrip(), f"trailing whitespace: {line!r}"
        assert not line.startswith("\t"), f"tab indentation: {line!r}"
        if "#" not in line and line.endswith(("{", "(")):
            assert following, f"blank line after an opening: {line!r}"


@settings(_SETTINGS, max_examples=150)
@given(generated_programs)
def test_generated_programs(text: str) -> None:
    assume(parses(text))
    assert_canonical_shape(assert_formatting_is_safe(text))


@settings(_SETTINGS, max_examples=100)
@given(data=st.data())
def test_generated_second_edition_programs(data: st.DataObject) -> None:
    text = data.draw(second_edition_programs)
    assume(parses(text))
    text = data.draw(with_comments_at_line_ends(text))
    assert_canonical_shape(assert_formatting_is_safe(text))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
@settings(_SETTINGS, max_examples=25)
@given(data=st.data())
def test_examples_with_comments_added_at_line_ends(path: Path, data: st.DataObject) -> None:
    text = data.draw(with_comments_at_line_ends(path.read_text(encoding="utf-8")))
    assert_canonical_shape(assert_formatting_is_safe(text))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
@settings(_SETTINGS, max_examples=25)
@given(data=st.data())
def test_examples_reflowed_at_random(path: Path, data: st.DataObject) -> None:
    text = data.draw(reflowed(path.read_text(encoding="utf-8")))
    text = data.draw(with_comments_at_line_ends(text))
    assert_canonical_shape(assert_formatting_is_safe(text))


SECOND_EDITION = """\
process Dunning {  # every form of the second edition
    key invoice_id
    data { retries: int = 0; declined: list[str]; due: datetime | None }
    signal GiveUp {}
    signal Release { node: str }
    event PaymentFailed { invoice_id: str; code: str }
    task Charge { invoice_id: str }
    machine Invoice {
        data { probes: int = 0 }
        states Open, Retrying, Closed
        initial Open
        final Closed
        transition retry: Open -> Retrying on PaymentFailed
            when data.retries < 3 and not (event.code in data.declined)  # soft decline
            keep Charge
            run Charge(invoice_id = key)
            set data.retries = data.retries + 1, instance.probes = len(data.declined) - -1
            emit Release(node = machine_id) emit GiveUp()
        transition late: Retrying -> Closed on at data.due when data.due is not none
        transition stop: * -> Closed on GiveUp
    }
    complete when all Invoice final and data.retries == 0
    fail when any Invoice in Retrying or data.retries >= 3 or data.due is none
}
"""


def test_a_program_with_every_second_edition_form_formats_safely() -> None:
    formatted = assert_formatting_is_safe(SECOND_EDITION)
    assert_canonical_shape(formatted)
    assert "            emit GiveUp\n" in formatted
