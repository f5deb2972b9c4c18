"""On PostgreSQL an idle worker sleeps on ``LISTEN``: it asks the database
rarely, and a commit that makes work due wakes it at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from pmc.runtime import End
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import SqlStore, open_store
from pmc.runtime.stores.sql import PG_POLL_INTERVAL
from pmc.runtime.worker import Worker
from tests.runtime.support import RebaseTasks, definition, seed, wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def stores(postgres_url: str) -> Iterator[tuple[SqlStore, SqlStore]]:
    """The worker's store and another process's, on one database."""
    opened = [open_store(postgres_url), open_store(postgres_url)]
    for store in opened:
        store.init()
    yield opened[0], opened[1]  # type: ignore[misc]
    for store in opened:
        store.close()


def count_statements(store: SqlStore) -> list[str]:
    """Every statement ``store`` sends through SQLAlchemy from now on (the claim path)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(store._engine, "before_cursor_execute", record)
    return sent


def test_an_idle_worker_asks_the_database_at_most_once_a_second(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    store, _ = stores
    worker = Worker(definition(seed()), store, RebaseTasks(), concurrency=4)
    worker.start()
    try:
        time.sleep(1.0)  # its first claim and first look at the index
        sent = count_statements(store)
        time.sleep(3.0)
    finally:
        assert worker.stop()

    # At 50 ms polls per thread this was 60 and more; now one look per poll
    # interval (and a reading of the database clock every few seconds).
    assert len(sent) <= 3 / PG_POLL_INTERVAL + 2, sent


def test_a_commit_that_makes_work_due_wakes_an_idle_worker_before_its_next_poll(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    store, other = stores
    m = seed()
    worker = Worker(definition(m), store, RebaseTasks())
    started = threading.Event()
    worker.listener = lambda report, stats: started.set()
    worker.start()
    try:
        time.sleep(0.5)  # idle: listening
        written = time.monotonic()
        ProcessManager(definition(m), other).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
        assert started.wait(PG_POLL_INTERVAL * 2)
        picked_up = time.monotonic() - written
        wait_until(lambda: ProcessManager(definition(m), other).state("r1").ended)
    finally:
        assert worker.stop()

    assert ProcessManager(definition(m), other).state("r1").end is End.COMPLETED
    # Well before the poll would have found it (not a timing test: a margin of x4).
    assert picked_up < PG_POLL_INTERVAL / 4
