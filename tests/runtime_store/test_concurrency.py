"""Many writers on one stream: versions 1..n, no gap, every event exactly once."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter

import pytest

from pmc.runtime.stores import ProcessStore
from tests.conftest import OpenStore
from tests.runtime_store.events import (
    ItemAdded,
    added,
    append_many_in_process,
    append_with_retry,
)

WRITERS = 8
EVENTS_PER_WRITER = 15


def assert_every_event_once_in_order(
    store: ProcessStore, key: str, writers: list[str], count: int
) -> None:
    events = store.load("Cleanup", key)
    assert [e.version for e in events] == list(range(1, len(writers) * count + 1))
    assert len({e.event_id for e in events}) == len(events)
    items = [e.event.item for e in events if isinstance(e.event, ItemAdded)]
    assert Counter(items) == Counter(f"{w}-{n}" for w in writers for n in range(count))
    for writer in writers:
        # Each writer waited for its append to succeed before the next one.
        mine = [item for item in items if item.startswith(f"{writer}-")]
        assert mine == [f"{writer}-{n}" for n in range(count)]


@pytest.mark.parametrize("shared", [True, False], ids=["one-store-object", "store-per-thread"])
def test_eight_threads_appending_with_retry(open_same_store: OpenStore, shared: bool) -> None:
    first = open_same_store()
    stores = [first if shared else open_same_store() for _ in range(WRITERS)]
    writers = [f"t{n}" for n in range(WRITERS)]
    errors: list[Exception] = []
    start = threading.Barrier(WRITERS)

    def write(store: ProcessStore, writer: str) -> None:
        start.wait()
        try:
            for n in range(EVENTS_PER_WRITER):
                append_with_retry(store, "Cleanup", "busy", added(f"{writer}-{n}"))
        except Exception as error:  # a thread's exception would otherwise vanish
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=pair) for pair in zip(stores, writers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert_every_event_once_in_order(first, "busy", writers, EVENTS_PER_WRITER)


def test_four_processes_appending_with_retry(store_url: str, open_same_store: OpenStore) -> None:
    if store_url == "memory://":
        pytest.skip("memory:// lives in one process")
    store = open_same_store()
    store.init()  # so that the children do not all race to create the tables
    writers = [f"p{n}" for n in range(4)]
    count = 20
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(
            target=append_many_in_process, args=(store_url, "Cleanup", "busy", writer, count)
        )
        for writer in writers
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert_every_event_once_in_order(store, "busy", writers, count)
