"""``sqlite:///path.db`` and ``postgresql://...``: event-sourcery's tables, written directly.

The store writes and reads event-sourcery's own stream and event tables,
rows made and read by event-sourcery's own serde, so event-sourcery's
SQLAlchemy backend (``load_stream``, subscriptions) reads what pmc wrote
and pmc reads what it wrote. It does so with SQL prepared once per dialect
and run on the driver's cursor (``_driver``), not through event-sourcery's
backend: that spends most of an append in SQLAlchemy's ORM (a
select-then-update of the stream row, an identity map rescanned after every
flush), many times the cost of the writes.

Each ``append_many`` (an ``append`` is one of one) is one transaction.
Writers of one stream are serialised by the conditional update of its
event-sourcery stream row, taken before anything else of that request: on
PostgreSQL the row lock makes a second writer wait and then see the new
version; on SQLite every write transaction is ``BEGIN IMMEDIATE``, so
writers queue on the database lock (with a busy timeout) instead of failing
when a read transaction cannot be upgraded. The rest (schema, the
pending-work claims) goes through SQLAlchemy as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast
from uuid import UUID

from event_sourcery import DEFAULT_TENANT, StreamId
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    ScalarSelect,
    Select,
    and_,
    case,
    create_engine,
    event,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from pmc.runtime.instances import (
    Failure,
    InstanceQuery,
    InstanceRow,
    InstanceStatus,
    InstanceUpdate,
    sorted_states,
)
from pmc.runtime.stores._clock import DatabaseClock
from pmc.runtime.stores._driver import (
    BUMP_VERSION,
    CREATE_STREAM,
    DELETE_INSTANCE_STATES,
    DELETE_WORK,
    DIALECTS,
    HOT_STATEMENTS,
    IDS_PER_QUERY,
    INSERT_EVENT,
    INSERT_EVENT_RETURNING_ID,
    INSERT_OUTBOX_ENTRY,
    LIST_STREAM,
    LOAD_EVENTS,
    REPLACE_INSTANCE,
    SELECT_VERSION,
    STATES_PER_STATEMENT,
    UPDATE_INSTANCE,
    UPSERT_WORK,
    event_mapping,
    read_json,
    read_timestamp,
    read_uuid,
    transaction,
    upsert_instance_states,
    write_json,
)
from pmc.runtime.stores._events import (
    SHARED_SERDE,
    event_rows,
    outbox_data,
    raw_event,
    recorded,
    stored_from_row,
    stored_row,
    stream_id,
)
from pmc.runtime.stores._notify import PgListener, PgTrigger, install_notify, install_trigger
from pmc.runtime.stores._signal import WorkSignal
from pmc.runtime.stores.api import (
    NO_WORK,
    AppendOutcome,
    AppendRejected,
    AppendRequest,
    Categories,
    ClaimAppends,
    Claimed,
    Clock,
    DuplicateEventId,
    JsonValue,
    NewEvent,
    PendingWork,
    ReadAfter,
    RecordedEvent,
    StoredEvent,
    StoreUrlError,
    StreamBusy,
    Tail,
    VersionConflict,
    WorkChanges,
    WorkItem,
    append_alone,
    categories_of,
    check_append,
    check_category,
    check_claim,
    check_stream,
    from_naive_utc,
    no_appends,
    read_tails,
    require_aware,
    tail_of,
    to_naive_utc,
    utc_now,
)
from pmc.runtime.stores.schema import (
    RETIRED_VERSION,
    event_sourcery_tables,
    instance_states,
    instances,
    machine_id_digest,
    metadata,
    stream_and_event_tables,
    streams,
    work,
)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How often an idle worker asks PostgreSQL for due work when no
# notification came (work due by the clock, a lost listening connection).
PG_POLL_INTERVAL = 2.0
# Any constant works; it only has to be the same in every process.
_SCHEMA_LOCK_ID = 0x706D635F73636D61
# Streams a store remembers having a ``pmc_streams`` row (see ``_remember_listed``).
MAX_LISTED_REMEMBERED = 100_000
# How often an append PostgreSQL undid to break a deadlock is tried again
# (alone): each retry waits for a batch that won, so a few are plenty.
DEADLOCK_RETRIES = 3
_DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True, slots=True)
class _Append:
    """An append request, checked and turned into event-sourcery's rows."""

    category: str
    key: str
    stream: StreamId
    expected_version: int
    rows: tuple[dict[str, Any], ...]  # event-sourcery's event rows as driver parameters,
    # all but the stream's row id
    events: list[StoredEvent]  # what the caller gets back once recorded
    event_ids: tuple[UUID, ...]
    work: WorkChanges
    instance: InstanceUpdate | None
    outbox: tuple[dict[str, Any], ...]  # the events' outbox entries, if the store keeps one

    @property
    def stream_order(self) -> tuple[str, str]:
        return (self.category, self.key)


class SqlStore:
    """A process store in a SQL database shared by any number of processes.

    event-sourcery's own appends (with an expected version) check and bump
    the same stream row as this store, so both may write a stream; an
    event-sourcery append that skips the version check (``expected_version=0``
    on an existing stream) is caught by the unique (stream, version) index
    of its events table.
    """

    def __init__(
        self,
        engine: Engine,
        write_engine: Engine | None = None,
        clock: Clock | None = None,
        *,
        outbox_attempts: int = 0,
    ) -> None:
        """``clock`` replaces the store's own clock (for tests): the database
        server's on PostgreSQL, the local one on SQLite (one machine).

        ``outbox_attempts`` > 0 puts every recorded event into event-sourcery's
        outbox too, with that many publishing attempts, as its backend
        configured ``with_outbox()`` does; its ``outbox.run`` publishes them.
        """
        if outbox_attempts < 0:
            raise ValueError(f"outbox_attempts must be >= 0, got {outbox_attempts}")
        self._outbox_attempts = outbox_attempts
        self._engine = engine
        self._write_engine = write_engine or engine
        self._dialect = engine.dialect.name
        self._clock = clock or (
            DatabaseClock(self._database_time) if self._dialect == "postgresql" else utc_now
        )
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        # PostgreSQL tells listeners when work is written (``_notify``):
        # polling is then only a slow fallback.
        self._signal = (
            WorkSignal(PgListener(engine), poll_interval=PG_POLL_INTERVAL)
            if self._dialect == "postgresql"
            else WorkSignal()
        )
        self._sql = DIALECTS[self._dialect]
        self._listed: set[tuple[str, str]] = set()
        self._statements = {statement: self._sql.sql(statement) for statement in HOT_STATEMENTS}
        self._lock_stream = self._sql.sql(LOCK_STREAM)
        # The rows a claim would take, by the number of categories (None: all).
        self._dues: dict[int | None, str] = {}
        # The statement setting that many instance states (``upsert_instance_states``).
        self._upsert_states: dict[tuple[int, int], str] = {}
        # The claim statement by the number of categories claimed (None: all).
        self._claims: dict[int | None, str] = {}

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
                install_retirement(conn, self._dialect)
                retire_old_versions(conn)
                if self._dialect == "postgresql" and not install_notify(conn):
                    # No notification will come: poll as other databases do.
                    self._signal.close()
                    self._signal = WorkSignal()
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
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction whose statements all see one snapshot of the database.

        For reads of several statements that must agree (an instance row and
        its states): PostgreSQL's READ COMMITTED takes a snapshot a statement;
        an SQLite transaction reads one already.
        """
        with self._transaction(write=False) as session:
            conn = session.connection()
            if self._dialect == "postgresql":
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            yield conn

    def _cursor(self, *, write: bool) -> AbstractContextManager[DBAPICursor]:
        """One transaction on the driver's cursor (see ``_driver``).

        ``transaction`` itself, not wrapped in a context manager of its own:
        one layer less on every append and read.
        """
        if not self._schema_ready:
            self.init()
        engine = self._write_engine if write else self._engine
        return transaction(engine, self._sql, write=write)

    def _run(self, cursor: DBAPICursor, statement: str, params: Mapping[str, object]) -> None:
        cursor.execute(self._statements[statement], params)

    # -- events ------------------------------------------------------------------

    def load(self, category: str, key: str, after_version: int = 0) -> list[StoredEvent]:
        check_stream(category, key)
        with self._cursor(write=False) as cursor:
            return self._read_events(cursor, category, key, after_version)

    def load_recorded(self, category: str, key: str) -> list[RecordedEvent]:
        check_stream(category, key)
        stream = stream_id(category, key)
        return [recorded(raw_event(stream, row)) for row in self._event_rows(stream, 0)]

    def _event_rows(self, stream: StreamId, after_version: int) -> list[Mapping[str, Any]]:
        # pmc never saves snapshots, so unlike event-sourcery's fetch_events
        # this reads the events only: one query, empty when nothing is new.
        with self._cursor(write=False) as cursor:
            return self._read_rows(cursor, stream, after_version)

    def _read_rows(
        self, cursor: DBAPICursor, stream: StreamId, after_version: int
    ) -> list[Mapping[str, Any]]:
        self._run(cursor, LOAD_EVENTS, {**self._stream_params(stream), "after": after_version})
        return [event_mapping(row) for row in cursor.fetchall()]

    def _read_events(
        self, cursor: DBAPICursor, category: str, key: str, after_version: int
    ) -> list[StoredEvent]:
        stream = stream_id(category, key)
        rows = self._read_rows(cursor, stream, after_version)
        serde = SHARED_SERDE
        return [stored_from_row(serde, stream, row) for row in rows]

    def version(self, category: str, key: str) -> int:
        check_stream(category, key)
        with self._cursor(write=False) as cursor:
            return self._current_version(cursor, stream_id(category, key)) or 0

    def append(
        self,
        category: str,
        key: str,
        events: Sequence[NewEvent],
        expected_version: int,
        work: WorkChanges = NO_WORK,
        now: datetime | None = None,
        instance: InstanceUpdate | None = None,
    ) -> list[StoredEvent]:
        request = AppendRequest(category, key, tuple(events), expected_version, work, now, instance)
        return append_alone(self, request)

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        # Every request is checked before anything is written: a request no
        # store could hold is an error of the caller, not a rejection.
        appends = [self._prepare(request) for request in requests]
        if not appends:
            return []
        outcomes = self._record_together(appends)
        recorded_work = zip(appends, outcomes, strict=True)
        if any(a.work and not isinstance(o, AppendRejected) for a, o in recorded_work):
            self._signal.notify()
        return outcomes

    def _prepare(self, request: AppendRequest) -> _Append:
        check_stream(request.category, request.key)
        check_append(request.events, request.expected_version, request.work, request.instance)
        stream = stream_id(request.category, request.key)
        now = request.now or self.now()
        rows = event_rows(SHARED_SERDE, stream, request.events, request.expected_version, now)
        return _Append(
            category=request.category,
            key=request.key,
            stream=stream,
            expected_version=request.expected_version,
            rows=tuple(self._sql.event_params(row) for row in rows),
            outbox=tuple(outbox_data(stream, row) for row in rows) if self._outbox_attempts else (),
            events=[stored_row(new, row) for new, row in zip(request.events, rows, strict=True)],
            event_ids=tuple(new.event_id for new in request.events),
            work=request.work,
            instance=request.instance,
        )

    def _record_together(
        self, appends: Sequence[_Append], deadlocks: int = DEADLOCK_RETRIES
    ) -> list[AppendOutcome]:
        """Record ``appends`` in one transaction; one by one if the database refuses it."""
        try:
            with self._cursor(write=True) as cursor:
                # A lone append needs no read of its ids first: a duplicate
                # then fails on the unique index and is explained below.
                outcomes = self._record(cursor, appends, check_ids=len(appends) > 1)
        except IntegrityError as error:
            if len(appends) == 1:
                return [self._explain_integrity_error(appends[0], error)]
            # A unique violation our checks did not foresee (an id committed
            # meanwhile by another writer) undid the whole transaction: one
            # transaction per append, so that it sinks only its own.
            return self._record_each(appends, deadlocks)
        except OperationalError as error:
            if not deadlocked(error) or deadlocks == 0:
                raise
            # Streams are taken in one order, but event ids are not: two
            # batches carrying one id into different streams each wait for
            # the other's uncommitted index entry, and PostgreSQL undid this
            # one. Alone, an append holds one stream row: the retry waits
            # for the other batch, then is recorded or a DuplicateEventId.
            return self._record_each(appends, deadlocks - 1)
        self._remember_listed(
            (append.category, append.key)
            for append, outcome in zip(appends, outcomes, strict=True)
            if not isinstance(outcome, AppendRejected) and listed_by(append)
        )
        return outcomes

    def _record_each(self, appends: Sequence[_Append], deadlocks: int) -> list[AppendOutcome]:
        return [
            outcome for append in appends for outcome in self._record_together([append], deadlocks)
        ]

    def _remember_listed(self, listed: Iterable[tuple[str, str]]) -> None:
        """Streams now known to have their ``pmc_streams`` row (committed; never deleted).

        Spares their appends with work the statement that makes sure of it.
        A bounded memory: forgetting only costs that statement again.
        """
        if len(self._listed) > MAX_LISTED_REMEMBERED:
            self._listed.clear()
        self._listed.update(listed)

    def _record(
        self, cursor: DBAPICursor, appends: Sequence[_Append], *, check_ids: bool
    ) -> list[AppendOutcome]:
        recorded_before = (
            self._recorded_ids(cursor, [i for append in appends for i in append.event_ids])
            if check_ids
            else set()
        )
        written: set[UUID] = set()
        work_changed: set[str] = set()
        outcomes: dict[int, AppendOutcome] = {}
        # Streams are taken in one order (a stable sort keeps each stream's
        # requests in theirs): two batches on PostgreSQL then never hold each
        # other's stream rows, which would deadlock.
        for index in sorted(range(len(appends)), key=lambda i: appends[i].stream_order):
            append = appends[index]
            duplicates = [i for i in append.event_ids if i in recorded_before or i in written]
            if duplicates:
                outcomes[index] = self._rejection(cursor, append, duplicates)
                continue
            taken = self._take_version(cursor, append)
            if isinstance(taken, VersionConflict):
                outcomes[index] = taken
                continue
            self._insert_events(cursor, append, taken)
            self._apply_work(cursor, append)
            if append.instance is not None:
                self._apply_instance(cursor, append, append.instance)
            written.update(append.event_ids)
            if append.work:
                work_changed.add(append.category)
            outcomes[index] = append.events
        if work_changed:
            self._work_changed(cursor, work_changed)
        return [outcomes[index] for index in range(len(appends))]

    def _insert_events(
        self, cursor: DBAPICursor, append: _Append, db_stream_id: int | None
    ) -> None:
        rows = [{**row, "db_stream_id": db_stream_id} for row in append.rows]
        if not self._outbox_attempts:
            cursor.executemany(self._statements[INSERT_EVENT], rows)
            return
        # An outbox entry names its event's position (row id) in the events table.
        for row, data in zip(rows, append.outbox, strict=True):
            self._run(cursor, INSERT_EVENT_RETURNING_ID, row)
            (position,) = cast(Sequence[Any], cursor.fetchone())  # an insert returns its row
            entry = {
                "created_at": row["created_at"],
                "data": write_json(data),
                "stream_name": append.key,
                "position": position,
                "tries_left": self._outbox_attempts,
            }
            self._run(cursor, INSERT_OUTBOX_ENTRY, entry)

    def _work_changed(self, cursor: DBAPICursor, categories: Iterable[str]) -> None:
        """The pending work of these categories changed in ``cursor``'s transaction.

        Called once per transaction, before it commits: the place to tell
        other processes (e.g. PostgreSQL's NOTIFY, sent at commit).
        """

    def _take_version(self, cursor: DBAPICursor, append: _Append) -> int | VersionConflict | None:
        """Check and move the stream's version; its row id (None: no such stream, no events).

        Setting the same version when there are no events still takes the
        row lock, so work changes are ordered with other writers.
        """
        count = len(append.rows)
        expected = append.expected_version
        stream = self._stream_params(append.stream)
        if expected == 0 and count == 0:
            if self._current_version(cursor, append.stream) is None:
                return None
        else:
            if expected == 0:
                self._run(cursor, CREATE_STREAM, {**stream, "name": append.key, "version": count})
            else:
                bump = {**stream, "expected": expected, "new_version": expected + count}
                self._run(cursor, BUMP_VERSION, bump)
            taken = cursor.fetchone()
            if taken is not None:
                if expected == 0:
                    self._list_stream(cursor, append)
                return int(taken[0])
        actual = self._current_version(cursor, append.stream)
        return VersionConflict(append.category, append.key, expected, actual)

    def _list_stream(self, cursor: DBAPICursor, append: _Append) -> None:
        params = {"category": append.category, "key": append.key, "version": RETIRED_VERSION}
        self._run(cursor, LIST_STREAM, params)

    def _rejection(
        self, cursor: DBAPICursor, append: _Append, duplicates: Sequence[UUID]
    ) -> AppendRejected:
        """Why an append with already recorded ids is rejected: its version first, as ``append``."""
        actual = self._current_version(cursor, append.stream)
        if (actual or 0) != append.expected_version:
            return VersionConflict(append.category, append.key, append.expected_version, actual)
        return DuplicateEventId(duplicates)

    def _stream_params(self, stream: StreamId) -> dict[str, object]:
        # event-sourcery finds a stream by uuid, category and tenant (unique together).
        return {
            "s_uuid": self._sql.uuid(stream),
            "s_category": stream.category,
            "s_tenant": DEFAULT_TENANT,
        }

    def _current_version(self, cursor: DBAPICursor, stream: StreamId) -> int | None:
        self._run(cursor, SELECT_VERSION, self._stream_params(stream))
        row = cursor.fetchone()
        return None if row is None else int(row[0])

    def _recorded_ids(self, cursor: DBAPICursor, event_ids: Sequence[UUID]) -> set[UUID]:
        if not event_ids:
            return set()
        found: set[UUID] = set()
        for query, params in self._sql.recorded_ids(event_ids):
            cursor.execute(query, params)
            found.update(read_uuid(uuid) for (uuid,) in cursor.fetchall())
        return found

    def _explain_integrity_error(self, append: _Append, error: IntegrityError) -> AppendRejected:
        """The rejection a unique violation stood for, read after it undid the append.

        The stream row serialises writers of a stream, so the violation
        came from outside its protection: an event id committed meanwhile
        in another stream, or a write that bypassed the version check.
        Anything else is not a rejection and is raised.
        """
        with self._cursor(write=False) as cursor:
            duplicates = self._recorded_ids(cursor, append.event_ids)
            actual = self._current_version(cursor, append.stream)
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
        # event-sourcery's stream rows: those of streams it wrote itself too.
        es_streams, _ = stream_and_event_tables()
        query = (
            select(es_streams.c.name)
            .where(
                es_streams.c.category == category,
                es_streams.c.tenant_id == DEFAULT_TENANT,
                es_streams.c.name.is_not(None),  # streams event-sourcery knows by uuid only
            )
            .order_by(es_streams.c.name)
        )
        with self._transaction(write=False) as session:
            return list(session.connection().execute(query).scalars().all())

    # -- pending work ------------------------------------------------------------

    def _apply_work(self, cursor: DBAPICursor, append: _Append) -> None:
        changes = append.work
        stream = {"category": append.category, "key": append.key}
        if changes.delete:
            cursor.executemany(
                self._statements[DELETE_WORK],
                [{**stream, "work_id": work_id} for work_id in changes.delete],
            )
        if changes.upsert:
            if append.expected_version > 0 and (append.category, append.key) not in self._listed:
                # A stream event-sourcery created has no row here yet, and
                # work rows need one.
                self._list_stream(cursor, append)
            cursor.executemany(
                self._statements[UPSERT_WORK],
                [
                    {
                        **stream,
                        "work_id": row.work_id,
                        "kind": row.kind,
                        "due_at": self._sql.timestamp(to_naive_utc(row.due_at)),
                        "payload": write_json(dict(row.payload)),
                    }
                    for row in changes.upsert
                ],
            )

    # -- instance index ----------------------------------------------------------

    def _apply_instance(self, cursor: DBAPICursor, append: _Append, update: InstanceUpdate) -> None:
        stream = {"category": append.category, "key": append.key}
        failure = update.last_failure
        row = {
            **stream,
            "status": str(update.status),
            "version": update.version,
            "updated_at": self._sql.timestamp(to_naive_utc(update.updated_at)),
            "last_failure": None if failure is None else write_json(failure.to_json()),
            "end_reason": update.end_reason,
        }
        statements: list[tuple[str, Mapping[str, object]]]
        if update.created_at is None:
            statements = [(self._statements[UPDATE_INSTANCE], row)]
        else:
            created_at = self._sql.timestamp(to_naive_utc(update.created_at))
            statements = [
                (self._statements[REPLACE_INSTANCE], {**row, "created_at": created_at}),
                (self._statements[DELETE_INSTANCE_STATES], stream),
            ]
        for start in range(0, len(update.states), STATES_PER_STATEMENT):
            chunk = update.states[start : start + STATES_PER_STATEMENT]
            states: dict[str, str] = {}
            for n, (machine, machine_id, state) in enumerate(chunk, start=start):
                states[f"m{n}"] = machine
                states[f"d{n}"] = machine_id_digest(machine_id)
                states[f"i{n}"] = machine_id
                states[f"s{n}"] = state
            statements.append((self._states_statement(start, len(chunk)), {**stream, **states}))
        self._run_together(cursor, statements)

    def _states_statement(self, first: int, count: int) -> str:
        statement = self._upsert_states.get((first, count))
        if statement is None:
            statement = self._sql.sql(upsert_instance_states(first, count))
            self._upsert_states[(first, count)] = statement
        return statement

    def _run_together(
        self, cursor: DBAPICursor, statements: Sequence[tuple[str, Mapping[str, object]]]
    ) -> None:
        """Run ``statements``, whose parameters agree where their names do.

        As one round trip on PostgreSQL (psycopg2 sends several statements
        in one call): the instance index then costs an append one round
        trip, not one per statement. SQLite runs in the process, and its
        driver takes one statement a call.
        """
        if self._dialect == "postgresql":
            merged: dict[str, object] = {}
            for _, params in statements:
                merged.update(params)
            cursor.execute("; ".join(statement for statement, _ in statements), merged)
            return
        for statement, params in statements:
            cursor.execute(statement, params)

    def instances(self, category: str, query: InstanceQuery) -> list[InstanceRow]:
        check_category(category)
        now = to_naive_utc(self.now())
        selected = instances_query(category, query, now, self._dialect)
        with self._snapshot() as conn:
            rows = conn.execute(selected).all()
            states = read_states(conn, category, [row.key for row in rows])
        return [instance_row(row, states.get(row.key, {})) for row in rows]

    def instance(self, category: str, key: str) -> InstanceRow | None:
        check_stream(category, key)
        selected = instance_columns().where(
            instances.c.category == category, instances.c.key == key
        )
        with self._snapshot() as conn:
            row = conn.execute(selected).first()
            if row is None:
                return None
            states = read_states(conn, category, [key])
        return instance_row(row, states.get(key, {}))

    def next_due(self, category: str, key: str) -> datetime | None:
        check_stream(category, key)
        selected = select(earliest_claimable(literal(category), literal(key)))
        with self._transaction(write=False) as session:
            first = session.connection().execute(selected).scalar()
        return None if first is None else from_naive_utc(read_timestamp(first))

    def claim_due(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        category: Categories = None,
        read_after: ReadAfter | None = None,
    ) -> list[WorkItem]:
        return self.claim_and_append(
            now, worker_id, limit, lease_seconds, no_appends, category, read_after
        ).items

    def claim_and_append(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        appends: ClaimAppends,
        category: Categories = None,
        read_after: ReadAfter | None = None,
    ) -> Claimed:
        require_aware("now", now)
        check_claim(limit, lease_seconds)
        lease_until = to_naive_utc(now + timedelta(seconds=lease_seconds))
        chosen = categories_of(category)
        params: dict[str, object] = {
            "now": self._sql.timestamp(to_naive_utc(now)),
            "limit": limit,
            "worker": worker_id,
            "lease_until": self._sql.timestamp(lease_until),
            **{f"c{n}": name for n, name in enumerate(chosen or ())},
        }
        tails = self._tails_before(chosen, params, read_after)
        return self._claim(chosen, params, worker_id, lease_until, read_after, appends, tails)

    def _claim(
        self,
        chosen: tuple[str, ...] | None,
        params: Mapping[str, object],
        worker_id: str,
        lease_until: datetime,
        read_after: ReadAfter | None,
        appends: ClaimAppends,
        tails: Mapping[tuple[str, str], Tail],
    ) -> Claimed:
        """One claim with its appends, in one transaction on the driver's cursor.

        A claim is on every task's path: one statement for the rows, the
        tails asked for (on SQLite, those of ``tails`` read before it), then
        the claimer's appends, decided on them. A stream no tail was read
        for (on SQLite, a row another claimer freed meanwhile) is read after
        the claim commits; ``appends`` sees its rows without a tail.
        """
        with self._cursor(write=True) as cursor:
            cursor.execute(self._claim_statement(chosen), params)
            items = sorted(
                (claimed_item(row, worker_id, lease_until) for row in cursor.fetchall()),
                key=lambda item: (item.due_at, item.category, item.key, item.work_id),
            )
            # A work row needs its stream's ``pmc_streams`` row (a foreign
            # key), committed before: the attempts started on these rows,
            # with the claim or later, need not make sure of it.
            self._remember_listed((item.category, item.key) for item in items)
            if read_after is not None and self._dialect == "postgresql":
                items = read_tails(partial(self._read_events, cursor), items, read_after)
            elif tails:
                items = [replace(item, tail=tails.get((item.category, item.key))) for item in items]
            prepared = [self._prepare(request) for request in appends(items)]
            free = [self._lock_at_once(cursor, append) for append in prepared]
            writing = [append for append, ok in zip(prepared, free, strict=True) if ok]
            # A lone append needs no read of its ids first, as in ``_record_together``.
            written = iter(self._record(cursor, writing, check_ids=len(writing) > 1))
            appended: list[AppendOutcome] = [
                next(written) if ok else StreamBusy(append.category, append.key)
                for append, ok in zip(prepared, free, strict=True)
            ]
        recorded = [
            append
            for append, outcome in zip(prepared, appended, strict=True)
            if not isinstance(outcome, AppendRejected)
        ]
        self._remember_listed((a.category, a.key) for a in recorded if listed_by(a))
        if any(append.work for append in recorded):
            self._signal.notify()
        unread = [item for item in items if item.tail is None]
        if read_after is not None and unread:
            with self._cursor(write=False) as cursor:
                read = iter(read_tails(partial(self._read_events, cursor), unread, read_after))
            items = [next(read) if item.tail is None else item for item in items]
        return Claimed(items, appended)

    def _tails_before(
        self,
        chosen: tuple[str, ...] | None,
        params: Mapping[str, object],
        read_after: ReadAfter | None,
    ) -> dict[tuple[str, str], Tail]:
        """On SQLite, the tails of the streams a claim is about to take, read before it.

        SQLite has one writer at a time, and reading (say) a cold worker's
        whole streams under the claim's write lock would hold up every other
        writer: they are read first, in a read transaction, from the rows
        the claim will take unless another claimer is quicker. A write
        committed in between makes a tail stale, which costs nothing: an
        append decided on it fails its version check. On PostgreSQL the
        claim's own transaction reads them.
        """
        if read_after is None or self._dialect == "postgresql":
            return {}
        with self._cursor(write=False) as cursor:
            cursor.execute(self._due_statement(chosen), params)
            streams = dict.fromkeys((category, key) for category, key, _ in cursor.fetchall())
            load = partial(self._read_events, cursor)
            return {
                (category, key): tail_of(load, category, key, read_after)
                for category, key in streams
            }

    def _due_statement(self, chosen: tuple[str, ...] | None) -> str:
        count = None if chosen is None else len(chosen)
        statement = self._dues.get(count)
        if statement is None:
            statement = self._dues[count] = self._sql.sql(due_sql(count))
        return statement

    def _lock_at_once(self, cursor: DBAPICursor, append: _Append) -> bool:
        """Whether the claim may write ``append``'s stream: on PostgreSQL, its row locked now.

        Writers lock a stream's row, then change its work rows; a claim holds
        work rows, so it must not wait for a stream's row (the two would
        deadlock): it locks the row only if nobody holds it (``SKIP
        LOCKED``), or leaves the append to be made on its own. On SQLite the
        claim holds the database's write lock: nobody else is writing.
        """
        if self._dialect != "postgresql":
            return True
        cursor.execute(self._lock_stream, self._stream_params(append.stream))
        return cursor.fetchone() is not None

    def _claim_statement(self, chosen: tuple[str, ...] | None) -> str:
        count = None if chosen is None else len(chosen)
        statement = self._claims.get(count)
        if statement is None:
            statement = self._claims[count] = self._sql.sql(
                claim_sql(count, skip_locked=self._dialect == "postgresql")
            )
        return statement

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

    def pending_work(self, now: datetime, category: str) -> PendingWork:
        require_aware("now", now)
        claimable_at = CLAIMABLE_AT
        due = func.coalesce(func.sum(case((claimable_at <= to_naive_utc(now), 1), else_=0)), 0)
        query = select(due, func.count()).where(work.c.category == category)
        with self._transaction(write=False) as session:
            counted = session.connection().execute(query).one()
        return PendingWork(due=int(counted[0]), later=int(counted[1]) - int(counted[0]))

    def wait_for_due(self, timeout: float, category: Categories = None) -> bool:
        if not self._schema_ready:
            self.init()  # which tells how to wait
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


def instance_columns() -> Select[Any]:
    """The columns of ``pmc_instances`` with ``next_due`` read from the work index."""
    next_due = earliest_claimable(instances.c.category, instances.c.key)
    return select(*instances.c, next_due.label("next_due"))


def earliest_claimable(category: ColumnElement[str], key: ColumnElement[str]) -> ScalarSelect[Any]:
    """The earliest time a stream's pending work can be claimed: its ``next_due``."""
    return (
        select(func.min(CLAIMABLE_AT))
        .where(work.c.category == category, work.c.key == key)
        .scalar_subquery()
    )


def instances_query(
    category: str, query: InstanceQuery, now: datetime, dialect: str
) -> Select[Any]:
    """The rows ``query`` selects (``now`` naive UTC), ordered by key in code point order."""
    # PostgreSQL orders text by the database's collation, which may be a
    # language's; "C" is byte order, which for UTF-8 is code point order, as
    # SQLite's and Python's.
    key = instances.c.key.collate("C") if dialect == "postgresql" else instances.c.key
    selected = instance_columns().where(instances.c.category == category)
    if query.status is not None:
        selected = selected.where(instances.c.status == str(query.status))
    if query.state is not None:
        machine, state = query.state
        selected = selected.where(
            exists().where(
                instance_states.c.category == instances.c.category,
                instance_states.c.key == instances.c.key,
                instance_states.c.machine == machine,
                instance_states.c.state == state,
            )
        )
    if query.updated_before is not None:
        selected = selected.where(instances.c.updated_at < to_naive_utc(query.updated_before))
    if query.stuck_for is not None:
        selected = selected.where(stuck(now - query.stuck_for))
    if query.after is not None:
        selected = selected.where(key > query.after)
    return selected.order_by(key).limit(query.limit)


def stuck(cutoff: datetime) -> ColumnElement[bool]:
    """Running, and work due since ``cutoff``, or no work and no update since (``instances``)."""
    of_stream = and_(work.c.category == instances.c.category, work.c.key == instances.c.key)
    return and_(
        instances.c.status == str(InstanceStatus.RUNNING),
        or_(
            exists().where(of_stream, cutoff >= CLAIMABLE_AT),
            and_(~exists().where(of_stream), instances.c.updated_at <= cutoff),
        ),
    )


def read_states(
    conn: Connection, category: str, keys: Sequence[str]
) -> dict[str, dict[str, dict[str, str]]]:
    """key -> machine -> machine id -> state, of the streams ``keys``."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    # Bounded chunks: SQLite takes a bounded number of variables per statement.
    for start in range(0, len(keys), IDS_PER_QUERY):
        chunk = keys[start : start + IDS_PER_QUERY]
        selected = select(instance_states).where(
            instance_states.c.category == category, instance_states.c.key.in_(chunk)
        )
        for row in conn.execute(selected):
            found.setdefault(row.key, {}).setdefault(row.machine, {})[row.machine_id] = row.state
    return found


def instance_row(row: Row[Any], states: Mapping[str, Mapping[str, str]]) -> InstanceRow:
    failure = read_json(row.last_failure)
    return InstanceRow(
        category=row.category,
        key=row.key,
        status=InstanceStatus(row.status),
        states=sorted_states(states),
        version=row.version,
        created_at=from_naive_utc(row.created_at),
        updated_at=from_naive_utc(row.updated_at),
        next_due=None if row.next_due is None else from_naive_utc(read_timestamp(row.next_due)),
        last_failure=None if failure is None else Failure.from_json(failure),
        end_reason=row.end_reason,
    )


# Sets every new ``pmc_streams`` row's version to ``RETIRED_VERSION``: a pmc
# 0.4 store left running creates rows at version 1 after ``init`` retired the
# others; so locked out of them too. pmc's own inserts write that version anyway.
RETIRE_TRIGGER = PgTrigger(
    name="pmc_streams_retired",
    table="pmc_streams",
    body=f"""
BEGIN
    NEW.version := {RETIRED_VERSION};
    RETURN NEW;
END;
""",
    fires="BEFORE INSERT ON {table} FOR EACH ROW",
)
# SQLite's triggers cannot change the row being inserted: they update it after.
_SQLITE_RETIRE_TRIGGER = f"""
CREATE TRIGGER IF NOT EXISTS {RETIRE_TRIGGER.name} AFTER INSERT ON pmc_streams
FOR EACH ROW WHEN NEW.version <> {RETIRED_VERSION} BEGIN
    UPDATE pmc_streams SET version = {RETIRED_VERSION}
    WHERE category = NEW.category AND "key" = NEW."key";
END
"""


def install_retirement(conn: Connection, dialect: str) -> None:
    """The trigger retiring new streams' versions (``RETIRE_TRIGGER``); idempotent."""
    if dialect != "postgresql":
        conn.execute(text(_SQLITE_RETIRE_TRIGGER))
        return
    refused = install_trigger(conn, RETIRE_TRIGGER)
    if refused is not None:
        logger.warning(
            "this role may not create the trigger locking pmc 0.4 stores out of new"
            " streams (%s). Run `pmc db init` as the tables' owner to have it.",
            refused,
        )


def retire_old_versions(conn: Connection) -> None:
    """Lock pmc 0.4 stores still running out of writing (see ``RETIRED_VERSION``).

    Idempotent; once done, only a read (so a role that may not update can
    still open the store). Under ``init``'s schema lock on PostgreSQL; an
    old writer's update waiting on a row lock re-checks its condition after
    this one commits, and misses.
    """
    old = streams.c.version != RETIRED_VERSION
    if conn.execute(select(literal(1)).where(old).limit(1)).first() is not None:
        conn.execute(update(streams).where(old).values(version=RETIRED_VERSION))


def listed_by(append: _Append) -> bool:
    """Whether recording ``append`` leaves its stream a ``pmc_streams`` row."""
    creates = append.expected_version == 0 and bool(append.rows)
    return creates or bool(append.work.upsert)


# A stream's row locked for a claim's append, unless another writer holds it.
LOCK_STREAM = (
    "SELECT id FROM event_sourcery_streams"
    " WHERE uuid = :s_uuid AND category = :s_category AND tenant_id = :s_tenant"
    " FOR UPDATE SKIP LOCKED"
)


def claim_sql(categories: int | None, *, skip_locked: bool) -> str:
    """Claim the first due rows (of ``categories`` named ``:c0``, ``:c1``...) and return them.

    One statement: the rows due (unclaimed, or whose claim expired) are
    picked in due order and marked claimed. On PostgreSQL ``SKIP LOCKED``
    lets claimers pass rows another claim is taking instead of queueing on
    them; SQLite has no row locks, and its ``BEGIN IMMEDIATE`` makes claims
    take turns.
    """
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return (
        "UPDATE pmc_work SET claimed_by = :worker, lease_until = :lease_until"
        f' WHERE (category, "key", work_id) IN ({due_sql(categories)}{lock})'
        ' RETURNING category, "key", work_id, kind, due_at, payload'
    )


def due_sql(categories: int | None) -> str:
    """The first ``:limit`` rows due (of ``categories``) that a claim takes, in its order."""
    where = "due_at <= :now AND (claimed_by IS NULL OR lease_until <= :now)"
    if categories is not None:
        names = ", ".join(f":c{n}" for n in range(categories))
        where = f"category IN ({names}) AND {where}"
    return (
        f'SELECT category, "key", work_id FROM pmc_work WHERE {where}'
        ' ORDER BY due_at, category, "key", work_id LIMIT :limit'
    )


def claimed_item(row: Sequence[Any], worker_id: str, lease_until: datetime) -> WorkItem:
    """A row ``claim_sql`` returned, claimed by ``worker_id`` until ``lease_until`` (naive UTC)."""
    category, key, work_id, kind, due_at, payload = row
    return WorkItem(
        category=category,
        key=key,
        work_id=work_id,
        kind=kind,
        due_at=from_naive_utc(read_timestamp(due_at)),
        payload=cast(Mapping[str, JsonValue], read_json(payload)),
        claimed_by=worker_id,
        lease_until=from_naive_utc(lease_until),
    )


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


# -- engines -----------------------------------------------------------------------


def deadlocked(error: OperationalError) -> bool:
    """Whether PostgreSQL undid the transaction to break a deadlock (SQLSTATE 40P01)."""
    return getattr(error.orig, "pgcode", None) == _DEADLOCK_DETECTED


# `RETURNING` (claims, work changes) came in SQLite 3.35.0.
SQLITE_MIN_VERSION = (3, 35, 0)


def sqlite_store(url: str, clock: Clock | None = None, *, outbox_attempts: int = 0) -> SqlStore:
    if sqlite3.sqlite_version_info < SQLITE_MIN_VERSION:
        needed = ".".join(map(str, SQLITE_MIN_VERSION))
        raise StoreUrlError(
            f"the sqlite3 module uses SQLite {sqlite3.sqlite_version}: pmc needs {needed} or newer"
        )
    parsed = make_url(url)
    if parsed.database in (None, "", ":memory:"):
        raise StoreUrlError("an SQLite store needs a file path: sqlite:///path.db")
    engine = create_engine(parsed)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    immediate = engine.execution_options(pmc_begin="BEGIN IMMEDIATE")
    return SqlStore(engine, immediate, clock, outbox_attempts=outbox_attempts)


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


def postgres_store(url: str, clock: Clock | None = None, *, outbox_attempts: int = 0) -> SqlStore:
    return SqlStore(create_engine(url), clock=clock, outbox_attempts=outbox_attempts)
