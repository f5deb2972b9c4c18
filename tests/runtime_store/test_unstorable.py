"""What no store can hold, found wherever it hides in an event's fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pmc.runtime.stores.api import unstorable

NUL = "a NUL character (\\x00)"
SURROGATE = "a lone surrogate (\\udcff)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        pytest.param({"a": ["ok", {"b": "x\x00"}]}, NUL, id="nul-nested"),
        pytest.param({"a\udcff": 1}, SURROGATE, id="surrogate-in-a-key"),
        pytest.param({"tags": {"ok", "\udcff"}}, SURROGATE, id="surrogate-in-a-set"),
        pytest.param({("k", "\x00"): 1}, NUL, id="nul-in-a-tuple-key"),
        pytest.param(("ok", frozenset({"x\x00"})), NUL, id="nul-in-a-frozenset"),
        pytest.param({"text": "\\u0000 is how JSON writes NUL"}, None, id="looks-escaped"),
        pytest.param({"at": datetime(2026, 1, 1, tzinfo=UTC), "n": 1.5, 2: None}, None, id="other"),
        pytest.param({"items": ["a", ("b", {"c": "é日本"})]}, None, id="plain-unicode"),
    ],
)
def test_unstorable_text_is_found_in_any_container(value: object, problem: str | None) -> None:
    assert unstorable(value) == problem
