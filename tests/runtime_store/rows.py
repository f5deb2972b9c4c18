"""The work index rows of a stream, read straight from a store's backend.

Only tests look at the index row by row (the runtime claims rows, it never
lists them), so the store API has no such method: this reads each
backend's own table.
"""

from __future__ import annotations

from sqlalchemy import select

from pmc.runtime.stores import MemoryStore, ProcessStore, SqlStore, WorkItem
from pmc.runtime.stores.schema import work
from pmc.runtime.stores.sql import work_item


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
