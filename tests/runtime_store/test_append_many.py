"""Group commit: `append_many` records each request as `append` would, rejecting only its own."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from pmc.runtime.stores import (
    NO_WORK,
    AppendRejected,
    AppendRequest,
    DuplicateEventId,
    NewEvent,
    ProcessStore,
    SqlStore,
    StoredEvent,
    VersionConflict,
    WorkChanges,
    WorkRow,
    open_store,
)
from pmc.runtime.stores import sql as sql_module
from pmc.runtime.stores._driver import Dialect
from tests.conftest import OpenStore
from tests.runtime_store.events import T0, ItemAdded, added
from tests.runtime_store.rows import work_items
from tests.runtime_store.test_events import run_together


def request(
    key: str, events: list[NewEvent], expected: int, work: WorkChanges = NO_WORK
) -> AppendRequest:
    return AppendRequest("Cleanup", key, tuple(events), expected, work, now=T0)


def stored_at(first_version: int, *events: NewEvent) -> list[StoredEvent]:
    return [
        StoredEvent(new.event, version, new.event_id, T0)
        for version, new in enumerate(events, start=first_version)
    ]


def task(work_id: str) -> WorkChanges:
    return WorkChanges(upsert=(WorkRow(work_id, "task", T0 + timedelta(minutes=1)),))


def sql_only(store: ProcessStore) -> SqlStore:
    if not isinstance(store, SqlStore):
        pytest.skip("only SQL stores have transactions to count")
    return store


def test_a_conflict_in_the_middle_rejects_only_that_request(store: ProcessStore) -> None:
    store.append("Cleanup", "r2", [added("first")], 0)
    a, stale, c = added("a"), added("stale"), added("c")

    outcomes = store.append_many(
        [request("r1", [a], 0), request("r2", [stale], 0), request("r3", [c], 0)]
    )

    assert outcomes[0] == stored_at(1, a)
    assert isinstance(outcomes[1], VersionConflict)
    assert (outcomes[1].expected_version, outcomes[1].actual_version) == (0, 1)
    assert outcomes[2] == stored_at(1, c)
    assert [s.event for s in store.load("Cleanup", "r2")] == [ItemAdded(item="first")]
    assert store.load("Cleanup", "r1") == stored_at(1, a)
    assert store.load("Cleanup", "r3") == stored_at(1, c)


def test_an_id_recorded_in_another_stream_rejects_only_that_request(store: ProcessStore) -> None:
    taken = added("taken")
    store.append("Cleanup", "r1", [taken], 0, now=T0)
    reused = NewEvent(ItemAdded(item="again"), taken.event_id)
    fresh, other = added("fresh"), added("other")

    outcomes = store.append_many(
        [
            request("r2", [fresh], 0),
            request("r3", [other, reused], 0),
            request("r1", [added("x")], 0),
        ]
    )

    assert outcomes[0] == stored_at(1, fresh)
    assert isinstance(outcomes[1], DuplicateEventId)
    assert outcomes[1].event_ids == (taken.event_id,)
    # A request both stale and reusing an id is a conflict first, as `append` says.
    assert isinstance(outcomes[2], VersionConflict)
    assert store.version("Cleanup", "r3") == 0
    assert store.load("Cleanup", "r1") == stored_at(1, taken)


def test_an_id_recorded_earlier_in_the_batch_is_a_duplicate_later(store: ProcessStore) -> None:
    first = added("first")
    again = NewEvent(ItemAdded(item="again"), first.event_id)

    outcomes = store.append_many([request("r1", [first], 0), request("r2", [again], 0)])

    assert outcomes[0] == stored_at(1, first)
    assert isinstance(outcomes[1], DuplicateEventId)
    assert store.version("Cleanup", "r2") == 0


def test_an_id_of_a_rejected_request_is_free_for_a_later_one(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("first")], 0)
    shared = uuid.uuid4()
    stale = NewEvent(ItemAdded(item="stale"), shared)
    retried = NewEvent(ItemAdded(item="retried"), shared)

    outcomes = store.append_many([request("r1", [stale], 0), request("r1", [retried], 1)])

    assert isinstance(outcomes[0], VersionConflict)
    assert outcomes[1] == stored_at(2, retried)


def test_requests_for_one_stream_apply_in_order(store: ProcessStore) -> None:
    a, b, c, late = added("a"), added("b"), added("c"), added("late")

    outcomes = store.append_many(
        [request("r1", [a], 0), request("r1", [b, c], 1), request("r1", [late], 1)]
    )

    assert outcomes[:2] == [stored_at(1, a), stored_at(2, b, c)]
    assert isinstance(outcomes[2], VersionConflict)
    assert outcomes[2].actual_version == 3
    assert store.load("Cleanup", "r1") == stored_at(1, a, b, c)


def test_work_changes_commit_with_their_request_only(store: ProcessStore) -> None:
    store.append("Cleanup", "r2", [added("first")], 0)

    store.append_many(
        [
            request("r1", [added("a")], 0, task("w1")),
            request("r2", [added("stale")], 0, task("w2")),
            request("r1", [], 1, WorkChanges(upsert=(WorkRow("w3", "timer", T0),), delete=("w1",))),
        ]
    )

    assert [item.work_id for item in work_items(store, "Cleanup", "r1")] == ["w3"]
    assert work_items(store, "Cleanup", "r2") == []


def test_an_empty_batch_records_nothing(store: ProcessStore) -> None:
    assert store.append_many([]) == []


class Recording:
    """The transactions a SQL store runs on its driver, and the first word of each statement."""

    def __init__(self, store: ProcessStore, monkeypatch: pytest.MonkeyPatch) -> None:
        sql_only(store)
        self.transactions = 0
        self.statements: list[str] = []
        real = sql_module.transaction

        @contextmanager
        def recorded(engine: Engine, dialect: Dialect, *, write: bool) -> Iterator[object]:
            with real(engine, dialect, write=write) as cursor:
                self.transactions += 1
                yield RecordingCursor(cursor, self.statements)

        monkeypatch.setattr(sql_module, "transaction", recorded)


class RecordingCursor:
    def __init__(self, cursor: Any, statements: list[str]) -> None:
        self._cursor = cursor
        self._statements = statements

    def execute(self, statement: str, *args: object) -> object:
        self._statements.append(statement.split()[0].upper())
        return self._cursor.execute(statement, *args)

    def executemany(self, statement: str, *args: object) -> object:
        self._statements.append(statement.split()[0].upper())
        return self._cursor.executemany(statement, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._cursor, name)


def test_a_batch_is_one_transaction(store: ProcessStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.append("Cleanup", "r1", [added("first")], 0)
    recording = Recording(store, monkeypatch)

    outcomes = store.append_many(
        [request(f"r{n}", [added(str(n))], 0, task("w")) for n in range(2, 7)]
        + [request("r1", [added("next")], 1)]
    )

    assert all(isinstance(outcome, list) for outcome in outcomes)
    assert recording.transactions == 1


def test_a_lone_append_writes_without_reading_first(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append("Cleanup", "r1", [added("first")], 0, task("w1"))
    recording = Recording(store, monkeypatch)

    store.append("Cleanup", "r1", [added("second")], 1, task("w1"))

    assert recording.transactions == 1
    assert "SELECT" not in recording.statements
    assert recording.statements[-1] == "INSERT"  # the work row, in the same transaction


def test_an_unforeseen_unique_violation_sinks_only_its_request(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = sql_only(store)
    taken = added("taken")
    store.append("Cleanup", "r1", [taken], 0, now=T0)
    # As if another writer committed the id between the batch's check and its
    # insert: the check finds nothing, later reads find the id.
    checks = iter([set[uuid.UUID]()])
    recorded_ids = sql._recorded_ids
    monkeypatch.setattr(
        sql, "_recorded_ids", lambda conn, ids: next(checks, None) or recorded_ids(conn, ids)
    )
    a, b = added("a"), added("b")

    outcomes = store.append_many(
        [
            request("r2", [a], 0),
            request("r3", [NewEvent(ItemAdded(item="again"), taken.event_id)], 0),
            request("r4", [b], 0),
        ]
    )

    assert outcomes[0] == stored_at(1, a)
    assert isinstance(outcomes[1], DuplicateEventId)
    assert outcomes[2] == stored_at(1, b)
    assert store.version("Cleanup", "r3") == 0


def test_batches_naming_streams_in_opposite_orders_do_not_deadlock(
    open_same_store: OpenStore,
) -> None:
    setup = open_same_store()
    for key in ("a", "b"):
        setup.append("Cleanup", key, [added("first")], 0)

    def writer(keys: tuple[str, str]) -> Callable[[], object]:
        store = open_same_store()

        def body() -> object:
            for _ in range(30):
                versions = {key: store.version("Cleanup", key) for key in keys}
                store.append_many(
                    [request(key, [added(key)], versions[key], task("w")) for key in keys]
                )
            return None

        return body

    # A deadlock would end one batch with an error (PostgreSQL aborts it).
    assert run_together([writer(("a", "b")), writer(("b", "a"))]) == [None, None]
    total = sum(setup.version("Cleanup", key) for key in ("a", "b"))
    assert total > 2


def wait_for_a_lock_wait(url: str) -> None:
    """Until some connection of the database waits for a lock another one holds."""
    engine = create_engine(url)
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(waiting).scalar_one():
                    return
            time.sleep(0.01)
        raise AssertionError("no connection came to wait for a lock")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_batches_deadlocking_on_one_event_id_are_recorded_one_request_at_a_time(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streams are taken in one order, event ids are not. The batch writing x
    to stream b holds b's row, the other has written x to stream a and waits
    for b's row; then the first writes x and waits for the second: PostgreSQL
    undoes one. It is recorded again request by request: x stays in one
    stream, and neither caller gets the deadlock."""
    later, earlier = open_store(postgres_url), open_store(postgres_url)
    later.init()
    x = added("x")
    holds_b, go = threading.Event(), threading.Event()
    insert_events = sql_only(later)._insert_events

    def after_taking_b(cursor: Any, append: Any, db_stream_id: int | None) -> None:
        if not holds_b.is_set():
            holds_b.set()
            go.wait()
        insert_events(cursor, append, db_stream_id)

    monkeypatch.setattr(later, "_insert_events", after_taking_b)

    def write_x_to_b() -> object:
        return later.append_many([request("b", [x], 0)])

    def write_x_to_a_then_b() -> object:
        holds_b.wait()
        return earlier.append_many([request("a", [x], 0), request("b", [added("y")], 0)])

    def release_once_waiting() -> object:
        holds_b.wait()
        wait_for_a_lock_wait(postgres_url)  # the batch writing to a, at b's row
        go.set()
        return None

    to_b, to_a_then_b, _ = run_together([write_x_to_b, write_x_to_a_then_b, release_once_waiting])

    assert isinstance(to_b, list) and isinstance(to_a_then_b, list), (to_b, to_a_then_b)
    assert all(isinstance(o, list | AppendRejected) for o in [*to_b, *to_a_then_b])
    holding_x = [key for key in ("a", "b") if x.event_id in event_ids(later.load("Cleanup", key))]
    assert len(holding_x) == 1


def event_ids(events: list[StoredEvent]) -> set[uuid.UUID]:
    return {event.event_id for event in events}


@pytest.mark.usefixtures("few_sqlite_variables")
def test_a_batch_larger_than_a_statement_takes_is_checked_whole(store: ProcessStore) -> None:
    """Its event ids are looked up in as many queries as it takes: a recorded
    one is found wherever it stands in the batch."""
    events = [added(f"i{n}") for n in range(1200)]
    store.append("Cleanup", "r1199", [events[1199]], 0)

    outcomes = store.append_many([request(f"r{n}", [e], 0) for n, e in enumerate(events)])

    assert outcomes[:1199] == [stored_at(1, e) for e in events[:1199]]
    assert isinstance(outcomes[1199], VersionConflict)  # its stream exists already
    replayed = store.append_many([request(f"r{n}", [e], 1) for n, e in enumerate(events)])
    assert all(isinstance(outcome, DuplicateEventId) for outcome in replayed)
