"""``sqlite:///path.db`` and ``postgresql://...``: event-sourcery's SQLAlchemy backend.

Each operation is one short session and one transaction: a long-lived
session makes event-sourcery's appends slower as it ages (it rescans the
identity map after every commit).

Writers of one stream are serialised by the conditional update of its
``pmc_streams`` row, taken before anything else in the transaction: on
PostgreSQL the row lock makes a second writer wait and then see the new
version; on SQLite every write transaction is ``BEGIN IMMEDIATE``, so
writers queue on the database lock (with a busy timeout) instead of failing
when a read transaction cannot be upgraded.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from event_sourcery import EventStore, StreamId
from event_sourcery.exceptions import ConcurrentStreamWriteError
from event_sourcery.interfaces import StorageStrategy
from event_sourcery_sqlalchemy import SQLAlchemyBackend
from event_sourcery_sqlalchemy.models.default import DefaultStream
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, noload
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import Executable

from pmc.runtime.stores._clock import DatabaseClock
from pmc.runtime.stores._events import recorded, stored, wrap
from pmc.runtime.stores._notify import PgListener, install_notify
from pmc.runtime.stores._signal import WorkSignal
from pmc.runtime.stores.api import (
    NO_WORK,
    AppendOutcome,
    AppendRequest,
    Categories,
    Clock,
    DuplicateEventId,
    JsonValue,
    NewEvent,
    RecordedEvent,
    StoredEvent,
    StoreUrlError,
    VersionConflict,
    WorkChanges,
    WorkItem,
    WorkRow,
    append_each,
    categories_of,
    check_append,
    check_category,
    check_claim,
    check_stream,
    from_naive_utc,
    require_aware,
    to_naive_utc,
    utc_now,
)
from pmc.runtime.stores.schema import event_sourcery_tables, events_table, metadata, streams, work

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often an idle worker asks PostgreSQL for due work when no
# notification came (work due by the clock, a lost listening connection).
PG_POLL_INTERVAL = 2.0
# Any constant works; it only has to be the same in every process.
_SCHEMA_LOCK_ID = 0x706D635F73636D61


class SqlStore:
    """A process store in a SQL database shared by any number of processes.

    Every write to its streams must go through a ``SqlStore``: the version
    row in ``pmc_streams`` is what makes appends safe, and a stream written
    by event-sourcery directly would have none.
    """

    def __init__(
        self, engine: Engine, write_engine: Engine | None = None, clock: Clock | None = None
    ) -> None:
        """``clock`` replaces the store's own clock (for tests): the database
        server's on PostgreSQL, the local one on SQLite (one machine)."""
        self._engine = engine
        self._write_engine = write_engine or engine
        self._dialect = engine.dialect.name
        self._clock = clock or (
            DatabaseClock(self._database_time) if self._dialect == "postgresql" else utc_now
        )
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        # PostgreSQL tells listeners when work is written (``_notify``):
        # polling is then only a slow fallback.
        self._signal = (
            WorkSignal(PgListener(engine), poll_interval=PG_POLL_INTERVAL)
            if self._dialect == "postgresql"
            else WorkSignal()
        )
        uuid = events_table().c.uuid
        self._recorded_query = select(uuid).where(uuid.in_(bindparam("ids", expanding=True)))
        self._statements = DialectStatements.for_dialect(self._dialect)

    # -- schema and transactions -------------------------------------------------

    def init(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._write_engine.begin() as conn:
                if self._dialect == "postgresql":
                    # Two processes creating tables at once would both pass
                    # create_all's existence check and one would then fail.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
                es_tables = event_sourcery_tables()
                es_tables[0].metadata.create_all(conn, tables=es_tables)
                metadata.create_all(conn)
                if self._dialect == "postgresql":
                    install_notify(conn)
            self._schema_ready = True

    def close(self) -> None:
        self._signal.close()
        self._engine.dispose()
        self._write_engine.dispose()

    def now(self) -> datetime:
        return self._clock()

    def _database_time(self) -> datetime:
        with self._engine.connect() as conn:
            server_time = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
        if not isinstance(server_time, datetime):
            raise TypeError(f"the database told the time as {server_time!r}")
        return server_time.astimezone(UTC)

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Session]:
        if not self._schema_ready:
            self.init()
        bind = self._write_engine if write else self._engine
        with StoreSession(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def _event_store(self, session: Session) -> EventStore:
        return self._backend(session).event_store

    def _backend(self, session: Session) -> SQLAlchemyBackend:
        # One backend per thread, pointed at each new session: a backend
        # holds an event registry that is cheap to keep and not thread-safe.
        backend: SQLAlchemyBackend | None = getattr(self._local, "backend", None)
        if backend is None:
            backend = SQLAlchemyBackend()
            self._local.backend = backend
        return backend.configure(session)

    # -- events ------------------------------------------------------------------

    def load(self, category: str, key: str, after_version: int = 0) -> list[StoredEvent]:
        check_stream(category, key)
        stream_id = StreamId(name=key, category=category)
        with self._transaction(write=False) as session:
            # A caller with cached state usually asks for an empty tail: our
            # version row answers that far cheaper than event-sourcery's query.
            if (current_version(session.connection(), category, key) or 0) <= after_version:
                return []
            wrapped = self._event_store(session).load_stream(stream_id, start=after_version + 1)
            return [stored(event) for event in wrapped]

    def load_recorded(self, category: str, key: str) -> list[RecordedEvent]:
        check_stream(category, key)
        stream_id = StreamId(name=key, category=category)
        with self._transaction(write=False) as session:
            raw = self._backend(session)[StorageStrategy].fetch_events(stream_id)
            return [recorded(event) for event in raw]

    def version(self, category: str, key: str) -> int:
        check_stream(category, key)
        with self._transaction(write=False) as session:
            return current_version(session.connection(), category, key) or 0

    def append(
        self,
        category: str,
        key: str,
        events: Sequence[NewEvent],
        expected_version: int,
        work: WorkChanges = NO_WORK,
        now: datetime | None = None,
    ) -> list[StoredEvent]:
        check_stream(category, key)
        check_append(events, expected_version, work)
        wrapped = wrap(events, expected_version, now or self.now())
        event_ids = [new.event_id for new in events]
        try:
            with self._transaction(write=True) as session:
                conn = session.connection()
                self._take_version(conn, category, key, expected_version, len(events))
                duplicates = self._recorded_ids(conn, event_ids)
                if duplicates:
                    raise DuplicateEventId(duplicates)
                if wrapped:
                    self._event_store(session).append(
                        *wrapped,
                        stream_id=StreamId(name=key, category=category),
                        expected_version=expected_version,
                    )
                self._apply_work(conn, category, key, work)
        except IntegrityError as error:
            # After our version row is taken, a unique violation can only come
            # from a concurrent writer outside that row's protection: an event
            # id committed meanwhile in another stream, or a write that
            # bypassed this store.
            raise self._explain_integrity_error(
                category, key, expected_version, event_ids
            ) from error
        except ConcurrentStreamWriteError as error:
            raise VersionConflict(category, key, expected_version, None) from error
        if work:
            self._signal.notify()
        return [stored(event) for event in wrapped]

    def _take_version(
        self, conn: Connection, category: str, key: str, expected: int, count: int
    ) -> None:
        stream = {"s_category": category, "s_key": key}
        if expected == 0 and count == 0:
            actual = current_version(conn, category, key)
            if actual is not None:
                raise VersionConflict(category, key, expected, actual)
            return
        if expected == 0:
            changed = conn.execute(
                self._statements.create_stream, {"category": category, "key": key, "version": count}
            )
        else:
            # Setting the same version when there are no events still takes
            # the row lock, so work changes are ordered with other writers.
            changed = conn.execute(
                BUMP_VERSION, {**stream, "expected": expected, "new_version": expected + count}
            )
        if changed.rowcount != 1:
            raise VersionConflict(category, key, expected, current_version(conn, category, key))

    def _recorded_ids(self, conn: Connection, event_ids: Sequence[UUID]) -> list[UUID]:
        if not event_ids:
            return []
        found = set(conn.execute(self._recorded_query, {"ids": list(event_ids)}).scalars().all())
        return [event_id for event_id in event_ids if event_id in found]

    def _explain_integrity_error(
        self, category: str, key: str, expected: int, event_ids: Sequence[UUID]
    ) -> VersionConflict | DuplicateEventId:
        with self._transaction(write=False) as session:
            conn = session.connection()
            duplicates = self._recorded_ids(conn, event_ids)
            if duplicates:
                return DuplicateEventId(duplicates)
            return VersionConflict(category, key, expected, current_version(conn, category, key))

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        return append_each(self, requests)

    def stream_keys(self, category: str) -> list[str]:
        check_category(category)
        query = select(streams.c.key).where(streams.c.category == category).order_by(streams.c.key)
        with self._transaction(write=False) as session:
            return list(session.connection().execute(query).scalars().all())

    # -- pending work ------------------------------------------------------------

    def _apply_work(self, conn: Connection, category: str, key: str, changes: WorkChanges) -> None:
        if changes.delete:
            conn.execute(
                DELETE_WORK,
                [{"s_category": category, "s_key": key, "s_work_id": w} for w in changes.delete],
            )
        if changes.upsert:
            conn.execute(
                self._statements.upsert_work,
                [work_values(category, key, row) for row in changes.upsert],
            )

    def claim_due(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        category: Categories = None,
    ) -> list[WorkItem]:
        require_aware("now", now)
        check_claim(limit, lease_seconds)
        lease_until = to_naive_utc(now + timedelta(seconds=lease_seconds))
        pk = tuple_(work.c.category, work.c.key, work.c.work_id)
        # SKIP LOCKED lets PostgreSQL claimers pass each other's rows instead
        # of queueing; SQLite ignores FOR UPDATE and relies on BEGIN IMMEDIATE.
        due = (
            select(work)
            .where(claimable(to_naive_utc(now), category))
            .order_by(work.c.due_at, work.c.category, work.c.key, work.c.work_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._transaction(write=True) as session:
            conn = session.connection()
            rows = conn.execute(due).all()
            if not rows:
                return []
            conn.execute(
                update(work)
                .where(pk.in_([(row.category, row.key, row.work_id) for row in rows]))
                .values(claimed_by=worker_id, lease_until=lease_until)
            )
        return [work_item(row, claimed_by=worker_id, lease_until=lease_until) for row in rows]

    def release(self, item: WorkItem) -> bool:
        if item.claimed_by is None:
            return False
        query = (
            update(work)
            .where(
                work.c.category == item.category,
                work.c.key == item.key,
                work.c.work_id == item.work_id,
                work.c.claimed_by == item.claimed_by,
            )
            .values(claimed_by=None, lease_until=None)
        )
        with self._transaction(write=True) as session:
            released = session.connection().execute(query).rowcount == 1
        if released:
            self._signal.notify()
        return released

    def has_due(self, now: datetime, category: Categories = None) -> bool:
        require_aware("now", now)
        query = select(literal(1)).where(claimable(to_naive_utc(now), category)).limit(1)
        with self._transaction(write=False) as session:
            return session.connection().execute(query).first() is not None

    def wait_for_due(self, timeout: float, category: Categories = None) -> bool:
        return self._signal.wait_for_due(
            lambda now: self._due_in(now, category), timeout, self.now, key=category
        )

    def _due_in(self, now: datetime, category: Categories) -> float | None:
        """Seconds until a row (of ``category``) is claimable; None if there is none."""
        query = select(func.min(CLAIMABLE_AT))
        chosen = categories_of(category)
        if chosen is not None:
            query = query.where(work.c.category.in_(chosen))
        with self._transaction(write=False) as session:
            first = session.connection().execute(query).scalar()
        if not isinstance(first, datetime):
            return None
        return (first - to_naive_utc(now)).total_seconds()


class StoreSession(Session):
    """Our sessions, where loading a stream row never loads its events.

    event-sourcery appends through ``stream.events.extend(...)``, which would
    first lazy-load every event already in the stream: appends would grow
    slower with the stream. ``noload`` starts that collection empty; the new
    events are still inserted through it.
    """


def _skip_stream_events(state: ORMExecuteState) -> None:
    if state.is_select and any(mapper.class_ is DefaultStream for mapper in state.all_mappers):
        state.statement = state.statement.options(noload(DefaultStream.events))


event.listen(StoreSession, "do_orm_execute", _skip_stream_events)


# Statements built once: building SQLAlchemy expressions per call costs
# more than running them on SQLite.
_STREAM = and_(streams.c.category == bindparam("s_category"), streams.c.key == bindparam("s_key"))
SELECT_VERSION = select(streams.c.version).where(_STREAM)
BUMP_VERSION = (
    update(streams)
    .where(_STREAM, streams.c.version == bindparam("expected"))
    .values(version=bindparam("new_version"))
)
DELETE_WORK = delete(work).where(
    work.c.category == bindparam("s_category"),
    work.c.key == bindparam("s_key"),
    work.c.work_id == bindparam("s_work_id"),
)


@dataclass(frozen=True)
class DialectStatements:
    """The upserts, which each dialect spells with its own ``insert``."""

    create_stream: Executable
    upsert_work: Executable

    @classmethod
    def for_dialect(cls, dialect: str) -> DialectStatements:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        upsert = insert(work)
        return cls(
            create_stream=insert(streams).on_conflict_do_nothing(),
            upsert_work=upsert.on_conflict_do_update(
                index_elements=[work.c.category, work.c.key, work.c.work_id],
                set_={
                    "kind": upsert.excluded.kind,
                    "due_at": upsert.excluded.due_at,
                    "payload": upsert.excluded.payload,
                    "claimed_by": None,
                    "lease_until": None,
                },
            ),
        )


def current_version(conn: Connection, category: str, key: str) -> int | None:
    version = conn.execute(SELECT_VERSION, {"s_category": category, "s_key": key}).scalar()
    return None if version is None else int(version)


def claimable(now: datetime, category: Categories = None) -> ColumnElement[bool]:
    due = and_(
        work.c.due_at <= now,
        or_(work.c.claimed_by.is_(None), work.c.lease_until <= now),
    )
    chosen = categories_of(category)
    if chosen is None:
        return due
    if len(chosen) == 1:
        return and_(work.c.category == chosen[0], due)
    return and_(work.c.category.in_(chosen), due)


# When a row can be claimed: when due, or when its claim expires if later.
CLAIMABLE_AT = case(
    (
        and_(work.c.claimed_by.is_not(None), work.c.lease_until > work.c.due_at),
        work.c.lease_until,
    ),
    else_=work.c.due_at,
)


def work_values(category: str, key: str, row: WorkRow) -> dict[str, object]:
    return {
        "category": category,
        "key": key,
        "work_id": row.work_id,
        "kind": row.kind,
        "due_at": to_naive_utc(row.due_at),
        "payload": dict(row.payload),
        "claimed_by": None,
        "lease_until": None,
    }


def work_item(
    row: Row[Any], claimed_by: str | None = None, lease_until: datetime | None = None
) -> WorkItem:
    claim = (
        (claimed_by, lease_until)
        if claimed_by is not None
        else (
            row.claimed_by,
            row.lease_until,
        )
    )
    return WorkItem(
        category=row.category,
        key=row.key,
        work_id=row.work_id,
        kind=row.kind,
        due_at=from_naive_utc(row.due_at),
        payload=cast(Mapping[str, JsonValue], row.payload),
        claimed_by=claim[0],
        lease_until=None if claim[1] is None else from_naive_utc(claim[1]),
    )


# -- engines -----------------------------------------------------------------------


def sqlite_store(url: str, clock: Clock | None = None) -> SqlStore:
    parsed = make_url(url)
    if parsed.database in (None, "", ":memory:"):
        raise StoreUrlError("an SQLite store needs a file path: sqlite:///path.db")
    engine = create_engine(parsed)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return SqlStore(engine, engine.execution_options(pmc_begin="BEGIN IMMEDIATE"), clock)


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    connection = cast(sqlite3.Connection, dbapi_connection)
    # We issue BEGIN ourselves (see _begin_sqlite); the driver must not.
    connection.isolation_level = None
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(connection)
    # In WAL mode NORMAL only risks the last commits on power loss, never corruption.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL once; the mode is stored in the file.

    Switching needs a moment alone with the file and SQLite may refuse it
    without waiting for the busy timeout while other connections open at the
    same time, so a refusal is retried until the timeout has passed.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _begin_sqlite(conn: Connection) -> None:
    conn.exec_driver_sql(str(conn.get_execution_options().get("pmc_begin", "BEGIN")))


def postgres_store(url: str, clock: Clock | None = None) -> SqlStore:
    return SqlStore(create_engine(url), clock=clock)
