"""Events and helpers shared by the store tests (and their child processes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from event_sourcery import Event

from pmc.runtime.stores import NewEvent, ProcessStore, VersionConflict, open_store

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class ItemAdded(Event):
    __event_name__ = "pmc_test_store.ItemAdded"
    item: str


class ItemRemoved(Event):
    __event_name__ = "pmc_test_store.ItemRemoved"
    item: str
    reason: str = ""


def added(item: str) -> NewEvent:
    return NewEvent(ItemAdded(item=item), uuid.uuid4())


def append_with_retry(store: ProcessStore, category: str, key: str, new: NewEvent) -> int:
    """Append one event the way the process manager will: reload the tail on a conflict.

    Returns how many conflicts it took.
    """
    known = store.version(category, key)
    conflicts = 0
    while True:
        try:
            store.append(category, key, [new], known)
            return conflicts
        except VersionConflict:
            conflicts += 1
            known += len(store.load(category, key, after_version=known))


def append_many_in_process(url: str, category: str, key: str, writer: str, count: int) -> None:
    """Body of one child process: its own store object, ``count`` appends with retry."""
    store = open_store(url)
    try:
        for n in range(count):
            append_with_retry(store, category, key, added(f"{writer}-{n}"))
    finally:
        store.close()
