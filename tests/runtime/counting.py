"""A store that counts the calls made to it, to show what the runtime reads and writes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pmc.runtime.stores import ProcessStore

# The calls that reach the database; ``now`` and the like are left out.
COUNTED = frozenset(
    {"load", "load_recorded", "version", "append", "append_many", "claim_and_append"}
)


class CountingStore:
    """Passes every call to ``inner``, counting those in ``COUNTED`` by name.

    Calls ``inner`` makes to itself (``append_many`` done as one ``append``
    per request, say) are not counted: what is counted is what the caller asked.
    """

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in COUNTED:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted

    def take(self) -> dict[str, int]:
        """The calls counted since the last ``take``."""
        taken = dict(self.calls)
        self.calls.clear()
        return taken


def counting(store: ProcessStore) -> tuple[ProcessStore, CountingStore]:
    """``store`` wrapped, typed as a store for the runtime and as itself for the test."""
    wrapped = CountingStore(store)
    as_store: ProcessStore = wrapped  # type: ignore[assignment]
    return as_store, wrapped
