"""The work index rows of a stream, read straight from a store's backend.

Only tests look at the index row by row (the runtime claims rows, it never
lists them), so the store API has no such method: this reads each
backend's own table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Row, select

from pmc.runtime.stores import MemoryStore, ProcessStore, SqlStore, WorkItem
from pmc.runtime.stores.api import JsonValue, from_naive_utc
from pmc.runtime.stores.schema import work


def work_items(store: ProcessStore, category: str, key: str) -> list[WorkItem]:
    """The index rows of one stream, by due time."""
    if isinstance(store, MemoryStore):
        with store._lock:
            items = [
                item
                for item in store._work.values()
                if (item.category, item.key) == (category, key)
            ]
    elif isinstance(store, SqlStore):
        query = select(work).where(work.c.category == category, work.c.key == key)
        with store._engine.connect() as connection:
            items = [work_item(row) for row in connection.execute(query)]
    else:
        raise TypeError(f"no work index to read in {type(store).__name__}")
    return sorted(items, key=lambda item: (item.due_at, item.work_id))


def work_item(row: Row[Any]) -> WorkItem:
    """A ``pmc_work`` row read through SQLAlchemy, as it stands."""
    return WorkItem(
        category=row.category,
        key=row.key,
        work_id=row.work_id,
        kind=row.kind,
        due_at=from_naive_utc(row.due_at),
        payload=cast(Mapping[str, JsonValue], row.payload),
        claimed_by=row.claimed_by,
        lease_until=None if row.lease_until is None else from_naive_utc(row.lease_until),
    )
