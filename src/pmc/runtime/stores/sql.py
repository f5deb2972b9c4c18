"""``sqlite:///path.db`` and ``postgresql://...``: event-sourcery's tables through SQLAlchemy Core.

The store writes and reads event-sourcery's own stream and event tables,
rows made and read by event-sourcery's own serde, so event-sourcery's
SQLAlchemy backend (``load_stream``, subscriptions) reads what pmc wrote
and pmc reads what it wrote. It does so with statements built once per
store and no ORM session: event-sourcery's backend spends most of an
append in the ORM (a select-then-update of the stream row, an identity map
rescanned after every flush), several times the cost of the writes.

Each append is one transaction. Writers of one stream are serialised by the
conditional update of its event-sourcery stream row, taken before anything
else in the transaction: on PostgreSQL the row lock makes a second writer
wait and then see the new version; on SQLite every write transaction is
``BEGIN IMMEDIATE``, so writers queue on the database lock (with a busy
timeout) instead of failing when a read transaction cannot be upgraded.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from event_sourcery import DEFAULT_TENANT, StreamId
from event_sourcery.event import Serde
from event_sourcery_sqlalchemy.jsonb import JSONB
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    column,
    create_engine,
    delete,
    event,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import table as table_clause
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import Executable, TableClause

from pmc.runtime.stores._clock import DatabaseClock
from pmc.runtime.stores._events import (
    event_row,
    new_serde,
    raw_event,
    recorded,
    stored,
    stream_id,
    wrap,
)
from pmc.runtime.stores._signal import WorkSignal
from pmc.runtime.stores.api import (
    NO_WORK,
    AppendOutcome,
    AppendRejected,
    AppendRequest,
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
    check_append,
    check_category,
    check_claim,
    check_stream,
    from_naive_utc,
    require_aware,
    to_naive_utc,
    utc_now,
)
from pmc.runtime.stores.schema import (
    event_sourcery_tables,
    metadata,
    stream_and_event_tables,
    streams,
    work,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any constant works; it only has to be the same in every process.
_SCHEMA_LOCK_ID = 0x706D635F73636D61


@dataclass(frozen=True, slots=True)
class _Append:
    """An append request, checked and turned into event-sourcery's rows."""

    category: str
    key: str
    stream: StreamId
    expected_version: int
    rows: tuple[dict[str, Any], ...]  # event-sourcery's event rows, but the stream's row id
    events: list[StoredEvent]  # what the caller gets back once recorded
    event_ids: tuple[UUID, ...]
    work: WorkChanges


class SqlStore:
    """A process store in a SQL database shared by any number of processes.

    event-sourcery's own appends (with an expected version) check and bump
    the same stream row as this store, so both may write a stream; an
    event-sourcery append that skips the version check (``expected_version=0``
    on an existing stream) is caught by the unique (stream, version) index
    of its events table.
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
        self._signal = WorkSignal()
        self._statements = Statements.build()

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
            self._schema_ready = True

    def close(self) -> None:
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
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        """One transaction on a pooled connection; committed unless the block raises."""
        if not self._schema_ready:
            self.init()
        with (self._write_engine if write else self._engine).begin() as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Session]:
        if not self._schema_ready:
            self.init()
        bind = self._write_engine if write else self._engine
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def _serde(self) -> Serde:
        # One per thread: event-sourcery's event registry is not thread-safe.
        serde: Serde | None = getattr(self._local, "serde", None)
        if serde is None:
            serde = self._local.serde = new_serde()
        return serde

    # -- events ------------------------------------------------------------------

    def load(self, category: str, key: str, after_version: int = 0) -> list[StoredEvent]:
        check_stream(category, key)
        stream = stream_id(category, key)
        rows = self._event_rows(stream, after_version)
        serde = self._serde()
        return [stored(serde.deserialize(raw_event(stream, row))) for row in rows]

    def load_recorded(self, category: str, key: str) -> list[RecordedEvent]:
        check_stream(category, key)
        stream = stream_id(category, key)
        return [recorded(raw_event(stream, row)) for row in self._event_rows(stream, 0)]

    def _event_rows(self, stream: StreamId, after_version: int) -> Sequence[RowMapping]:
        # pmc never saves snapshots, so unlike event-sourcery's fetch_events
        # this reads the events only: one query, empty when nothing is new.
        params = {**stream_params(stream), "after": after_version}
        with self._connection(write=False) as conn:
            return conn.execute(self._statements.load_events, params).mappings().all()

    def version(self, category: str, key: str) -> int:
        check_stream(category, key)
        with self._connection(write=False) as conn:
            return self._current_version(conn, stream_id(category, key)) or 0

    def append(
        self,
        category: str,
        key: str,
        events: Sequence[NewEvent],
        expected_version: int,
        work: WorkChanges = NO_WORK,
        now: datetime | None = None,
    ) -> list[StoredEvent]:
        request = AppendRequest(category, key, tuple(events), expected_version, work, now)
        (outcome,) = self.append_many([request])
        if isinstance(outcome, AppendRejected):
            raise outcome
        return outcome

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        # Every request is checked before anything is written: a request no
        # store could hold is an error of the caller, not a rejection.
        appends = [self._prepare(request) for request in requests]
        if not appends:
            return []
        outcomes = self._record_together(appends)
        if any(
            a.work and not isinstance(o, AppendRejected)
            for a, o in zip(appends, outcomes, strict=True)
        ):
            self._signal.notify()
        return outcomes

    def _prepare(self, request: AppendRequest) -> _Append:
        check_stream(request.category, request.key)
        check_append(request.events, request.expected_version, request.work)
        wrapped = wrap(request.events, request.expected_version, request.now or self.now())
        stream = stream_id(request.category, request.key)
        serde = self._serde()
        return _Append(
            category=request.category,
            key=request.key,
            stream=stream,
            expected_version=request.expected_version,
            rows=tuple(event_row(serde, stream, event) for event in wrapped),
            events=[stored(event) for event in wrapped],
            event_ids=tuple(new.event_id for new in request.events),
            work=request.work,
        )

    def _record_together(self, appends: Sequence[_Append]) -> list[AppendOutcome]:
        """Record ``appends`` in one transaction; one by one if the database refuses it."""
        try:
            with self._connection(write=True) as conn:
                # A lone append needs no read of its ids first: a duplicate
                # then fails on the unique index and is explained below.
                return self._record(conn, appends, check_ids=len(appends) > 1)
        except IntegrityError as error:
            if len(appends) == 1:
                return [self._explain_integrity_error(appends[0], error)]
            # A unique violation our checks did not foresee (an id committed
            # meanwhile by another writer) undid the whole transaction: one
            # transaction per append, so that it sinks only its own.
            return [outcome for append in appends for outcome in self._record_together([append])]

    def _record(
        self, conn: Connection, appends: Sequence[_Append], *, check_ids: bool
    ) -> list[AppendOutcome]:
        recorded_before = (
            self._recorded_ids(conn, [i for append in appends for i in append.event_ids])
            if check_ids
            else set()
        )
        written: set[UUID] = set()
        work_changed: set[str] = set()
        outcomes: list[AppendOutcome] = []
        for append in appends:
            duplicates = [i for i in append.event_ids if i in recorded_before or i in written]
            if duplicates:
                outcomes.append(self._rejection(conn, append, duplicates))
                continue
            taken = self._take_version(conn, append)
            if isinstance(taken, VersionConflict):
                outcomes.append(taken)
                continue
            if append.rows:
                conn.execute(
                    self._statements.insert_events,
                    [{**row, "db_stream_id": taken} for row in append.rows],
                )
            self._apply_work(conn, append)
            written.update(append.event_ids)
            if append.work:
                work_changed.add(append.category)
            outcomes.append(append.events)
        if work_changed:
            self._work_changed(conn, work_changed)
        return outcomes

    def _work_changed(self, conn: Connection, categories: Iterable[str]) -> None:
        """The pending work of these categories changed in ``conn``'s transaction.

        Called once per transaction, before it commits: the place to tell
        other processes (e.g. PostgreSQL's NOTIFY, sent at commit).
        """

    def _take_version(self, conn: Connection, append: _Append) -> int | VersionConflict | None:
        """Check and move the stream's version; its row id (None: no such stream, no events).

        Setting the same version when there are no events still takes the
        row lock, so work changes are ordered with other writers.
        """
        count = len(append.rows)
        expected = append.expected_version
        if expected == 0 and count == 0:
            if self._current_version(conn, append.stream) is None:
                return None
        elif expected == 0:
            created = conn.execute(
                self._statements.create_stream,
                {
                    "uuid": append.stream,
                    "name": append.key,
                    "category": append.category,
                    "tenant_id": DEFAULT_TENANT,
                    "version": count,
                },
            ).scalar()
            if created is not None:
                self._list_stream(conn, append, count)
                return int(created)
        else:
            params = {**stream_params(append.stream), "expected": expected}
            bumped = conn.execute(
                self._statements.bump_version, {**params, "new_version": expected + count}
            ).scalar()
            if bumped is not None:
                return int(bumped)
        actual = self._current_version(conn, append.stream)
        return VersionConflict(append.category, append.key, expected, actual)

    def _list_stream(self, conn: Connection, append: _Append, version: int) -> None:
        conn.execute(
            self._statements.list_stream,
            {"category": append.category, "key": append.key, "version": version},
        )

    def _rejection(
        self, conn: Connection, append: _Append, duplicates: Sequence[UUID]
    ) -> AppendRejected:
        """Why an append with already recorded ids is rejected: its version first, as ``append``."""
        actual = self._current_version(conn, append.stream)
        if (actual or 0) != append.expected_version:
            return VersionConflict(append.category, append.key, append.expected_version, actual)
        return DuplicateEventId(duplicates)

    def _current_version(self, conn: Connection, stream: StreamId) -> int | None:
        version = conn.execute(self._statements.select_version, stream_params(stream)).scalar()
        return None if version is None else int(version)

    def _recorded_ids(self, conn: Connection, event_ids: Sequence[UUID]) -> set[UUID]:
        if not event_ids:
            return set()
        found = conn.execute(self._statements.recorded_ids, {"ids": list(event_ids)}).scalars()
        return set(found)

    def _explain_integrity_error(self, append: _Append, error: IntegrityError) -> AppendRejected:
        """The rejection a unique violation stood for, read after it undid the append.

        Our version row serialises writers of a stream, so the violation
        came from outside its protection: an event id committed meanwhile
        in another stream, or a write that bypassed the version check.
        Anything else is not a rejection and is raised.
        """
        with self._connection(write=False) as conn:
            duplicates = self._recorded_ids(conn, append.event_ids)
            actual = self._current_version(conn, append.stream)
        rejected: AppendRejected
        if duplicates:
            rejected = DuplicateEventId([i for i in append.event_ids if i in duplicates])
        elif (actual or 0) != append.expected_version:
            rejected = VersionConflict(append.category, append.key, append.expected_version, actual)
        else:
            raise error
        rejected.__cause__ = error
        return rejected

    def stream_keys(self, category: str) -> list[str]:
        check_category(category)
        query = select(streams.c.key).where(streams.c.category == category).order_by(streams.c.key)
        with self._connection(write=False) as conn:
            return list(conn.execute(query).scalars().all())

    # -- pending work ------------------------------------------------------------

    def _apply_work(self, conn: Connection, append: _Append) -> None:
        changes = append.work
        if changes.delete:
            conn.execute(
                DELETE_WORK,
                [
                    {"s_category": append.category, "s_key": append.key, "s_work_id": w}
                    for w in changes.delete
                ],
            )
        if changes.upsert:
            if append.expected_version > 0:
                # A stream event-sourcery created has no row here yet, and
                # work rows need one.
                self._list_stream(conn, append, append.expected_version)
            conn.execute(
                self._statements.upsert_work,
                [work_values(append.category, append.key, row) for row in changes.upsert],
            )

    def claim_due(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        category: str | None = None,
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

    def has_due(self, now: datetime, category: str | None = None) -> bool:
        require_aware("now", now)
        query = select(literal(1)).where(claimable(to_naive_utc(now), category)).limit(1)
        with self._transaction(write=False) as session:
            return session.connection().execute(query).first() is not None

    def wait_for_due(self, timeout: float, category: str | None = None) -> bool:
        return self._signal.wait_for_due(lambda now: self.has_due(now, category), timeout, self.now)


# The columns ``raw_event`` reads.
EVENT_COLUMNS = ("uuid", "version", "name", "data", "event_context", "created_at")

# Statements built once: building SQLAlchemy expressions per call costs
# more than running them on SQLite.
DELETE_WORK = delete(work).where(
    work.c.category == bindparam("s_category"),
    work.c.key == bindparam("s_key"),
    work.c.work_id == bindparam("s_work_id"),
)


@dataclass(frozen=True)
class Statements:
    """The statements of the event paths, on event-sourcery's tables (mapped on first use)."""

    select_version: Executable
    bump_version: Executable
    create_stream: Executable
    list_stream: Executable
    insert_events: Executable
    load_events: Executable
    recorded_ids: Executable
    upsert_work: Executable

    @classmethod
    def build(cls) -> Statements:
        es_streams, events_table = stream_and_event_tables()
        es_events = cacheable(events_table)
        # event-sourcery finds a stream by uuid, category and tenant (unique together).
        stream = and_(
            es_streams.c.uuid == bindparam("s_uuid"),
            es_streams.c.category == bindparam("s_category"),
            es_streams.c.tenant_id == DEFAULT_TENANT,
        )
        # The upserts are text: SQLAlchemy compiles its ON CONFLICT clauses
        # anew on every execution. Both dialects spell them alike.
        return cls(
            select_version=select(es_streams.c.version).where(stream),
            bump_version=update(es_streams)
            .where(stream, es_streams.c.version == bindparam("expected"))
            .values(version=bindparam("new_version"))
            .returning(es_streams.c.id),
            create_stream=text(
                "INSERT INTO event_sourcery_streams (uuid, name, category, tenant_id, version)"
                " VALUES (:uuid, :name, :category, :tenant_id, :version)"
                " ON CONFLICT DO NOTHING RETURNING id"
            ).bindparams(bindparam("uuid", type_=es_streams.c.uuid.type)),
            list_stream=text(
                'INSERT INTO pmc_streams (category, "key", version)'
                " VALUES (:category, :key, :version) ON CONFLICT DO NOTHING"
            ),
            insert_events=es_events.insert(),
            load_events=select(*(es_events.c[name] for name in EVENT_COLUMNS))
            .join(es_streams, es_events.c.db_stream_id == es_streams.c.id)
            .where(stream, es_events.c.version > bindparam("after"))
            .order_by(es_events.c.version),
            recorded_ids=select(es_events.c.uuid).where(
                es_events.c.uuid.in_(bindparam("ids", expanding=True))
            ),
            upsert_work=text(
                'INSERT INTO pmc_work (category, "key", work_id, kind, due_at, payload)'
                " VALUES (:category, :key, :work_id, :kind, :due_at, :payload)"
                ' ON CONFLICT (category, "key", work_id) DO UPDATE SET kind = excluded.kind,'
                " due_at = excluded.due_at, payload = excluded.payload,"
                " claimed_by = NULL, lease_until = NULL"
            ).bindparams(
                bindparam("due_at", type_=work.c.due_at.type),
                bindparam("payload", type_=work.c.payload.type),
            ),
        )


class CachedJSONB(JSONB):
    """event-sourcery's JSON column type, declared safe to cache (it holds no state).

    Its own type does not say so, and SQLAlchemy then compiles every
    statement that uses it anew on each execution.
    """

    cache_ok = True


def cacheable(table: Table) -> TableClause:
    """``table`` for Core statements: its name and columns, the JSON ones typed ``CachedJSONB``."""
    columns = (
        column(c.name, CachedJSONB() if isinstance(c.type, JSONB) else c.type) for c in table.c
    )
    return table_clause(table.name, *columns, schema=table.schema)


def stream_params(stream: StreamId) -> dict[str, object]:
    return {"s_uuid": stream, "s_category": stream.category}


def claimable(now: datetime, category: str | None = None) -> ColumnElement[bool]:
    due = and_(
        work.c.due_at <= now,
        or_(work.c.claimed_by.is_(None), work.c.lease_until <= now),
    )
    return due if category is None else and_(work.c.category == category, due)


def work_values(category: str, key: str, row: WorkRow) -> dict[str, object]:
    return {
        "category": category,
        "key": key,
        "work_id": row.work_id,
        "kind": row.kind,
        "due_at": to_naive_utc(row.due_at),
        "payload": dict(row.payload),
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
