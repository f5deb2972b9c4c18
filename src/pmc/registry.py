"""Tables of stable ids (diagnostic codes, breaking and replay rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def registry(key: Callable[[_T], str], *entries: _T) -> dict[str, _T]:
    """Entries by id, in order; an id written twice is a programming error, caught at import."""
    table: dict[str, _T] = {}
    for entry in entries:
        if key(entry) in table:
            raise AssertionError(f"duplicate id {key(entry)}")
        table[key(entry)] = entry
    return table
