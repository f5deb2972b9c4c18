"""The one table builder behind every id of the diagnostic registry."""

from __future__ import annotations

import pytest

from pmc.diagnostics.registry import registry


def test_entries_keep_their_order_by_id() -> None:
    table = registry(str.upper, "b", "a")
    assert list(table.items()) == [("B", "b"), ("A", "a")]


def test_an_id_written_twice_fails_at_import_time() -> None:
    with pytest.raises(AssertionError, match="duplicate id A"):
        registry(str.upper, "a", "A")
