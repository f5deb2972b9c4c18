"""pmc's SQL store and event-sourcery's own SQLAlchemy backend read and extend each other's streams.

pmc writes event-sourcery's tables itself (for speed); these tests hold it
to writing exactly what event-sourcery writes, and reading what it writes,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from event_sourcery import StreamId
from event_sourcery.event import Context, Recorded, WrappedEvent
from event_sourcery.exceptions import ConcurrentStreamWriteError
from event_sourcery.interfaces import StorageStrategy
from event_sourcery_sqlalchemy import SQLAlchemyBackend
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from pmc.runtime.stores import (
    NewEvent,
    RecordedEvent,
    SqlStore,
    StoredEvent,
    VersionConflict,
    WorkChanges,
    WorkRow,
    open_store,
)
from pmc.runtime.stores._events import event_rows, new_serde, wrap
from pmc.runtime.stores.schema import RETIRED_VERSION
from tests.runtime_store.events import T0, ItemAdded, ItemRemoved
from tests.runtime_store.rows import work_items

NAIVE_T0 = T0.replace(tzinfo=None)  # event-sourcery's created_at: naive UTC


@pytest.fixture
def store(sql_url: str) -> Iterator[SqlStore]:
    opened = open_store(sql_url)
    assert isinstance(opened, SqlStore)
    opened.init()
    yield opened
    opened.close()


@pytest.fixture
def session(sql_url: str, store: SqlStore) -> Iterator[Session]:
    """A session of event-sourcery's own backend on the store's database (tables made)."""
    engine = create_engine(sql_url)
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def backend(session: Session) -> SQLAlchemyBackend:
    return SQLAlchemyBackend().configure(session)


def cleanup(key: str) -> StreamId:
    return StreamId(name=key, category="Cleanup")


def test_pmc_makes_the_rows_event_sourcerys_serde_makes() -> None:
    # pmc builds the rows itself, the context serialised once for every event.
    serde = new_serde()
    events = [
        NewEvent(ItemAdded(item="disk"), uuid.uuid4()),
        NewEvent(ItemRemoved(item="disk", reason="unused"), uuid.uuid4()),
    ]

    rows = event_rows(serde, cleanup("r1"), events, 2, T0)

    raws = [serde.serialize(wrapped, cleanup("r1")) for wrapped in wrap(events, 2, T0)]
    assert rows == [
        {
            "uuid": raw.uuid,
            "version": raw.version,
            "name": raw.name,
            "data": raw.data,
            "event_context": raw.context,
            "created_at": raw.created_at,
        }
        for raw in raws
    ]
    assert [row["version"] for row in rows] == [3, 4]


def test_event_sourcery_loads_what_pmc_wrote(store: SqlStore, session: Session) -> None:
    first = NewEvent(ItemAdded(item="disk"), uuid.uuid4())
    second = NewEvent(ItemRemoved(item="disk", reason="unused"), uuid.uuid4())
    store.append("Cleanup", "r1", [first], 0, now=T0)
    store.append("Cleanup", "r1", [second], 1, now=T0 + timedelta(seconds=1))

    loaded = backend(session).event_store.load_stream(cleanup("r1"))
    raw = backend(session)[StorageStrategy].fetch_events(cleanup("r1"))

    assert [(w.event, w.version, w.uuid, w.created_at) for w in loaded] == [
        (ItemAdded(item="disk"), 1, first.event_id, NAIVE_T0),
        (
            ItemRemoved(item="disk", reason="unused"),
            2,
            second.event_id,
            NAIVE_T0 + timedelta(seconds=1),
        ),
    ]
    assert [w.context for w in loaded] == [Context(), Context()]
    assert [(r.name, r.data) for r in raw] == [
        ("pmc_test_store.ItemAdded", {"item": "disk"}),
        ("pmc_test_store.ItemRemoved", {"item": "disk", "reason": "unused"}),
    ]


def test_event_sourcery_subscriptions_see_what_pmc_wrote(store: SqlStore, session: Session) -> None:
    ours = [NewEvent(ItemAdded(item=f"i{n}"), uuid.uuid4()) for n in range(3)]
    store.append("Cleanup", "r1", ours[:2], 0, now=T0)
    store.append("Other", "r1", [NewEvent(ItemAdded(item="elsewhere"), uuid.uuid4())], 0, now=T0)
    store.append("Cleanup", "r2", ours[2:], 0, now=T0)

    batch = next(
        backend(session)
        .subscriber.start_from(0)
        .to_category("Cleanup")
        .build_batch(3, timedelta(seconds=0.2))
    )

    assert [(r.stream_id, r.wrapped_event.uuid, r.wrapped_event.version) for r in batch] == [
        (cleanup("r1"), ours[0].event_id, 1),
        (cleanup("r1"), ours[1].event_id, 2),
        (cleanup("r2"), ours[2].event_id, 1),
    ]
    assert [r.wrapped_event.event for r in batch] == [new.event for new in ours]


def test_event_sourcery_appends_after_pmc_at_the_version_pmc_left(
    store: SqlStore, session: Session
) -> None:
    store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="disk"), uuid.uuid4())], 0, now=T0)
    events = backend(session).event_store
    ahead = WrappedEvent(ItemAdded(item="ahead"), version=3, uuid=uuid.uuid4(), created_at=NAIVE_T0)
    theirs = WrappedEvent(ItemAdded(item="cpu"), version=2, uuid=uuid.uuid4(), created_at=NAIVE_T0)

    with pytest.raises(ConcurrentStreamWriteError):  # event-sourcery checks pmc's version
        events.append(ahead, stream_id=cleanup("r1"), expected_version=2)
    session.rollback()
    events.append(theirs, stream_id=cleanup("r1"), expected_version=1)
    session.commit()

    assert store.version("Cleanup", "r1") == 2
    assert store.load("Cleanup", "r1", after_version=1) == [
        StoredEvent(ItemAdded(item="cpu"), 2, theirs.uuid, T0)
    ]


def test_pmc_loads_and_extends_what_event_sourcery_wrote(store: SqlStore, session: Session) -> None:
    theirs = [
        WrappedEvent(ItemAdded(item="disk"), version=1, uuid=uuid.uuid4(), created_at=NAIVE_T0),
        WrappedEvent(ItemRemoved(item="disk"), version=2, uuid=uuid.uuid4(), created_at=NAIVE_T0),
    ]
    backend(session).event_store.append(*theirs, stream_id=cleanup("r1"), expected_version=0)
    session.commit()

    assert store.version("Cleanup", "r1") == 2
    assert store.stream_keys("Cleanup") == ["r1"]
    assert store.load("Cleanup", "r1") == [
        StoredEvent(ItemAdded(item="disk"), 1, theirs[0].uuid, T0),
        StoredEvent(ItemRemoved(item="disk"), 2, theirs[1].uuid, T0),
    ]
    assert store.load_recorded("Cleanup", "r1") == [
        RecordedEvent(1, theirs[0].uuid, T0, "pmc_test_store.ItemAdded", {"item": "disk"}),
        RecordedEvent(
            2, theirs[1].uuid, T0, "pmc_test_store.ItemRemoved", {"item": "disk", "reason": ""}
        ),
    ]
    with pytest.raises(VersionConflict):
        store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="stale"), uuid.uuid4())], 1)
    ours = NewEvent(ItemAdded(item="cpu"), uuid.uuid4())
    work = WorkChanges(upsert=(WorkRow("w1", "task", T0),))

    store.append("Cleanup", "r1", [ours], 2, work, now=T0)

    assert [w.version for w in backend(session).event_store.load_stream(cleanup("r1"))] == [1, 2, 3]
    assert [item.work_id for item in work_items(store, "Cleanup", "r1")] == ["w1"]


def test_a_database_made_by_the_previous_store_keeps_working(tmp_path: Path) -> None:
    """``previous_store.sql``: a dump of what the store before issue 11 wrote.

    Stream Cleanup/r1 holds three events and a work row, Cleanup/r2 one event.
    """
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript((Path(__file__).parent / "previous_store.sql").read_text())
    store = open_store(f"sqlite:///{path}")

    assert [store.version("Cleanup", key) for key in ("r1", "r2")] == [3, 1]
    assert [s.event for s in store.load("Cleanup", "r1")] == [
        ItemAdded(item="disk"),
        ItemAdded(item="cpu"),
        ItemRemoved(item="disk", reason="unused"),
    ]
    assert store.stream_keys("Cleanup") == ["r1", "r2"]
    assert [item.work_id for item in work_items(store, "Cleanup", "r1")] == ["w1"]
    with pytest.raises(VersionConflict):
        store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="stale"), uuid.uuid4())], 2)
    store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="gpu"), uuid.uuid4())], 3)
    store.append("Cleanup", "r3", [NewEvent(ItemAdded(item="new"), uuid.uuid4())], 0)
    assert [store.version("Cleanup", key) for key in ("r1", "r2", "r3")] == [4, 1, 1]
    store.close()


def test_event_sourcerys_outbox_publishes_what_pmc_wrote(sql_url: str, session: Session) -> None:
    store = open_store(sql_url, outbox_attempts=3)
    ours = [NewEvent(ItemAdded(item=f"i{n}"), uuid.uuid4()) for n in range(3)]
    store.append("Cleanup", "r1", ours[:2], 0, now=T0)
    store.append("Cleanup", "r2", ours[2:], 0, now=T0)
    store.close()
    published: list[Recorded] = []
    outbox = backend(session).with_outbox().outbox

    outbox.run(published.append)
    session.commit()
    outbox.run(published.append)  # delivered entries left the outbox

    assert [(r.wrapped_event.uuid, r.wrapped_event.version) for r in published] == [
        (ours[0].event_id, 1),
        (ours[1].event_id, 2),
        (ours[2].event_id, 1),
    ]
    assert [r.wrapped_event.event for r in published] == [new.event for new in ours]
    assert [r.wrapped_event.created_at for r in published] == [NAIVE_T0] * 3
    # event-sourcery's outbox keeps the stream's uuid and name, not its category.
    assert [(r.stream_id.name, r.stream_id.hex) for r in published] == [
        ("r1", cleanup("r1").hex),
        ("r1", cleanup("r1").hex),
        ("r2", cleanup("r2").hex),
    ]


def test_a_store_without_an_outbox_leaves_it_empty(store: SqlStore, session: Session) -> None:
    store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="disk"), uuid.uuid4())], 0)
    published: list[Recorded] = []

    backend(session).with_outbox().outbox.run(published.append)

    assert published == []


# What a pmc 0.4 store runs to append at ``expected`` (its stream's version
# kept in ``pmc_streams``), and what it reads for ``version()``.
OLD_BUMP = (
    "UPDATE pmc_streams SET version = :new_version"
    ' WHERE category = :category AND "key" = :key AND version = :expected'
)
OLD_VERSION = 'SELECT version FROM pmc_streams WHERE category = :category AND "key" = :key'


def old_store_bumps(url: str, key: str, expected: int, count: int = 0) -> bool:
    """Whether a pmc 0.4 store's conditional update at ``expected`` would match."""
    engine = create_engine(url)
    with engine.begin() as conn:
        params = {"category": "Cleanup", "key": key, "expected": expected}
        changed = conn.execute(text(OLD_BUMP), {**params, "new_version": expected + count})
    engine.dispose()
    return changed.rowcount == 1


def test_a_pmc_0_4_store_left_running_cannot_write_after_this_one_opened(tmp_path: Path) -> None:
    """Its versions (in ``pmc_streams``) go stale once this store appends:
    ``init`` retires them, so its every conditional update misses."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript((Path(__file__).parent / "previous_store.sql").read_text())
    url = f"sqlite:///{path}"
    assert old_store_bumps(url, "r2", 1)  # the old store's own database: it writes

    store = open_store(url)
    store.init()
    store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="gpu"), uuid.uuid4())], 3)
    store.append("Cleanup", "r3", [NewEvent(ItemAdded(item="new"), uuid.uuid4())], 0)
    store.close()

    # Not at the version it last saw, nor at the true one, nor on a new stream.
    assert not old_store_bumps(url, "r1", 3)
    assert not old_store_bumps(url, "r1", 4)
    assert not old_store_bumps(url, "r2", 2)
    assert not old_store_bumps(url, "r3", 1)
    with sqlite3.connect(path) as db:
        old_versions = {v for (v,) in db.execute("SELECT version FROM pmc_streams")}
    # Its ``load`` short cut (nothing new if this <= the caller's version)
    # never applies, and its ``version()`` is no version a stream reaches.
    assert old_versions == {RETIRED_VERSION}


def test_opening_retires_old_versions_on_every_database(sql_url: str) -> None:
    store = open_store(sql_url)
    store.append("Cleanup", "r1", [NewEvent(ItemAdded(item="disk"), uuid.uuid4())], 0)
    store.close()
    engine = create_engine(sql_url)
    with engine.begin() as conn:  # as a pmc 0.4 store wrote it
        conn.execute(text("UPDATE pmc_streams SET version = 1"))
    engine.dispose()
    assert old_store_bumps(sql_url, "r1", 1)

    reopened = open_store(sql_url)
    reopened.init()
    reopened.init()  # idempotent
    reopened.close()

    assert not old_store_bumps(sql_url, "r1", 1)


def old_store_creates(url: str, key: str) -> None:
    """What a pmc 0.4 store's first append to a new stream writes: its
    ``pmc_streams`` row (version 1) and, through event-sourcery, the event."""
    engine = create_engine(url)
    with Session(engine) as session:
        session.execute(
            text('INSERT INTO pmc_streams (category, "key", version) VALUES (:c, :k, 1)'),
            {"c": "Cleanup", "k": key},
        )
        first = WrappedEvent(
            ItemAdded(item="old"), version=1, uuid=uuid.uuid4(), created_at=NAIVE_T0
        )
        backend(session).event_store.append(first, stream_id=cleanup(key), expected_version=0)
        session.commit()
    engine.dispose()


def test_a_stream_a_pmc_0_4_store_creates_after_opening_is_locked_out_too(
    sql_url: str, store: SqlStore
) -> None:
    """``init`` retires the versions there are; a trigger retires those a 0.4
    store left running writes afterwards, before its next conditional update."""
    old_store_creates(sql_url, "r9")
    # This store moves the stream on (to version 2) and gives it work.
    work = WorkChanges(upsert=(WorkRow("w1", "task", T0),))
    store.append("Cleanup", "r9", [NewEvent(ItemAdded(item="new"), uuid.uuid4())], 1, work)

    # The old store's update at the version it last saw (1) would rewrite
    # the rows newer writes made.
    assert not old_store_bumps(sql_url, "r9", 1)
    reopened = open_store(sql_url)
    reopened.init()  # finds the trigger in place
    reopened.close()
    old_store_creates(sql_url, "r10")
    assert not old_store_bumps(sql_url, "r10", 1)
