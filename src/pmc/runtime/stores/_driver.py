"""The SQL store's hot statements, run on the database driver's own cursor.

Appending and loading are a handful of short statements; run through
SQLAlchemy (even Core, even cached) each costs several times what the
driver needs. So these run as SQL written once per dialect, on a pooled
connection's DBAPI cursor, with values turned into exactly what
event-sourcery's and our column types store (``GUID``, ``JSONB``, SQLite's
``DATETIME`` text). Driver errors are raised as SQLAlchemy's exceptions, as
everywhere else in the store, and a lost connection is invalidated in the
pool as SQLAlchemy would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Engine
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError

from pmc.runtime.stores._events import context_json

# Written in SQLite's named style (``:name``); PostgreSQL's is derived.
SELECT_VERSION = (
    "SELECT version FROM event_sourcery_streams"
    " WHERE uuid = :s_uuid AND category = :s_category AND tenant_id = :s_tenant"
)
BUMP_VERSION = (
    "UPDATE event_sourcery_streams SET version = :new_version"
    " WHERE uuid = :s_uuid AND category = :s_category AND tenant_id = :s_tenant"
    " AND version = :expected RETURNING id"
)
CREATE_STREAM = (
    "INSERT INTO event_sourcery_streams (uuid, name, category, tenant_id, version)"
    " VALUES (:s_uuid, :name, :s_category, :s_tenant, :version)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
LIST_STREAM = (
    'INSERT INTO pmc_streams (category, "key", version)'
    " VALUES (:category, :key, :version) ON CONFLICT DO NOTHING"
)
INSERT_EVENT = (
    "INSERT INTO event_sourcery_events"
    " (version, uuid, name, data, event_context, created_at, db_stream_id)"
    " VALUES (:version, :uuid, :name, :data, :event_context, :created_at, :db_stream_id)"
)
INSERT_EVENT_RETURNING_ID = INSERT_EVENT + " RETURNING id"
INSERT_OUTBOX_ENTRY = (
    "INSERT INTO event_sourcery_outbox_entries"
    " (created_at, data, stream_name, position, tries_left)"
    " VALUES (:created_at, :data, :stream_name, :position, :tries_left)"
)
LOAD_EVENTS = (
    "SELECT e.uuid, e.version, e.name, e.data, e.event_context, e.created_at"
    " FROM event_sourcery_events e JOIN event_sourcery_streams s ON e.db_stream_id = s.id"
    " WHERE s.uuid = :s_uuid AND s.category = :s_category AND s.tenant_id = :s_tenant"
    " AND e.version > :after ORDER BY e.version"
)
UPSERT_WORK = (
    'INSERT INTO pmc_work (category, "key", work_id, kind, due_at, payload)'
    " VALUES (:category, :key, :work_id, :kind, :due_at, :payload)"
    ' ON CONFLICT (category, "key", work_id) DO UPDATE SET kind = excluded.kind,'
    " due_at = excluded.due_at, payload = excluded.payload,"
    " claimed_by = NULL, lease_until = NULL"
)
DELETE_WORK = (
    'DELETE FROM pmc_work WHERE category = :category AND "key" = :key AND work_id = :work_id'
)
# The instance index (``pmc.runtime.instances``): a whole row, or an update
# of the row if the stream has one; a failure given replaces the row's.
REPLACE_INSTANCE = (
    'INSERT INTO pmc_instances (category, "key", status, version, created_at, updated_at,'
    " last_failure, end_reason) VALUES (:category, :key, :status, :version, :created_at,"
    " :updated_at, :last_failure, :end_reason)"
    ' ON CONFLICT (category, "key") DO UPDATE SET status = excluded.status,'
    " version = excluded.version, created_at = excluded.created_at,"
    " updated_at = excluded.updated_at, last_failure = excluded.last_failure,"
    " end_reason = excluded.end_reason"
)
UPDATE_INSTANCE = (
    "UPDATE pmc_instances SET status = :status, version = :version, updated_at = :updated_at,"
    " last_failure = COALESCE(:last_failure, last_failure), end_reason = :end_reason"
    ' WHERE category = :category AND "key" = :key'
)
DELETE_INSTANCE_STATES = (
    'DELETE FROM pmc_instance_states WHERE category = :category AND "key" = :key'
)
# SQLite takes at most 999 variables a statement (in builds before 3.32):
# four a machine instance, and the stream's two.
STATES_PER_STATEMENT = 240


def upsert_instance_states(first: int, count: int) -> str:
    """Set the states of ``count`` machine instances of a stream: ``:m<n>, :d<n>, :i<n>,
    :s<n>`` (machine, digest of the id, id, state) for n from ``first`` (so that several
    such statements can share one call's parameters).

    Only if the stream has its instance row: an update of a stream the index
    does not know yet writes nothing (see ``InstanceUpdate``), without a
    read to find out.
    """
    values = ", ".join(f"(:m{n}, :d{n}, :i{n}, :s{n})" for n in range(first, first + count))
    return (
        'INSERT INTO pmc_instance_states (category, "key", machine, machine_digest, machine_id,'
        " state) SELECT :category, :key, column1, column2, column3, column4"
        f" FROM (VALUES {values}) AS v"
        ' WHERE EXISTS (SELECT 1 FROM pmc_instances WHERE category = :category AND "key" = :key)'
        ' ON CONFLICT (category, "key", machine, machine_digest)'
        " DO UPDATE SET state = excluded.state"
    )


HOT_STATEMENTS = (
    SELECT_VERSION,
    BUMP_VERSION,
    CREATE_STREAM,
    LIST_STREAM,
    INSERT_EVENT,
    INSERT_EVENT_RETURNING_ID,
    INSERT_OUTBOX_ENTRY,
    LOAD_EVENTS,
    UPSERT_WORK,
    DELETE_WORK,
    REPLACE_INSTANCE,
    UPDATE_INSTANCE,
    DELETE_INSTANCE_STATES,
)

# Event ids per query on SQLite: under its smallest variable limit (999).
IDS_PER_QUERY = 500


@dataclass(frozen=True)
class Dialect:
    """How one driver spells parameters and stores uuids, JSON and timestamps."""

    name: str
    begin_write: str | None  # issued first in a write transaction (None: the driver begins)
    begin_read: str | None

    def sql(self, statement: str) -> str:
        if self.name == "sqlite":
            return statement
        return re.sub(r":(\w+)", r"%(\1)s", statement)

    def recorded_ids(self, event_ids: Sequence[UUID]) -> Iterator[tuple[str, dict[str, object]]]:
        """Queries, with their parameters, for which of ``event_ids`` are recorded.

        One array parameter on PostgreSQL; on SQLite, whose statements take
        a bounded number of variables (999 in builds before 3.32), one
        query per ``IDS_PER_QUERY`` ids, so a batch of any size can be checked.
        """
        if self.name == "postgresql":
            query = "SELECT uuid FROM event_sourcery_events WHERE uuid = ANY(CAST(:ids AS uuid[]))"
            yield self.sql(query), {"ids": [self.uuid(i) for i in event_ids]}
            return
        for start in range(0, len(event_ids), IDS_PER_QUERY):
            chunk = event_ids[start : start + IDS_PER_QUERY]
            marks = ", ".join(f":id{n}" for n in range(len(chunk)))
            query = f"SELECT uuid FROM event_sourcery_events WHERE uuid IN ({marks})"
            yield query, {f"id{n}": self.uuid(i) for n, i in enumerate(chunk)}

    def uuid(self, value: UUID) -> str:
        # event-sourcery's GUID: CHAR(32) hex on SQLite, a uuid (given as text) on PostgreSQL.
        return value.hex if self.name == "sqlite" else str(value)

    def event_params(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row of event-sourcery's events table as this driver's parameters."""
        return {
            **row,
            "uuid": self.uuid(row["uuid"]),
            "data": write_json(row["data"]),
            "event_context": context_json(row["event_context"]),
            "created_at": self.timestamp(row["created_at"]),
        }

    def timestamp(self, value: datetime) -> datetime | str:
        # SQLAlchemy's SQLite DATETIME is text with microseconds; drivers elsewhere take datetimes.
        return value.isoformat(" ", "microseconds") if self.name == "sqlite" else value


def write_json(value: object) -> str:
    # event-sourcery's JSONB (TEXT on SQLite) and SQLAlchemy's JSON both store
    # json.dumps; PostgreSQL reads the text as JSONB.
    return json.dumps(value)


def read_uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def read_json(value: object) -> Any:
    # SQLite hands back the text; psycopg2 parses JSONB itself.
    return json.loads(value) if isinstance(value, str) else value


def read_timestamp(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def event_mapping(row: Sequence[Any]) -> Mapping[str, Any]:
    """A row of ``LOAD_EVENTS`` as the values event-sourcery's column types read."""
    uuid, version, name, data, context, created_at = row
    return {
        "uuid": read_uuid(uuid),
        "version": version,
        "name": name,
        "data": read_json(data),
        "event_context": read_json(context),
        "created_at": read_timestamp(created_at),
    }


DIALECTS = {
    # The SQLite connections run with the driver's transactions off (sql.py), so
    # the store begins them itself; IMMEDIATE takes the write lock at once. A
    # read is one statement (or two whose agreement does not matter), which
    # SQLite runs in a transaction of its own.
    "sqlite": Dialect("sqlite", begin_write="BEGIN IMMEDIATE", begin_read=None),
    "postgresql": Dialect("postgresql", begin_write=None, begin_read=None),
}


@contextmanager
def transaction(engine: Engine, dialect: Dialect, *, write: bool) -> Iterator[DBAPICursor]:
    """A cursor in one transaction on a pooled connection; committed unless the block raises."""
    raw = engine.raw_connection()
    cursor: DBAPICursor | None = None
    statement = dialect.begin_write if write else dialect.begin_read
    try:
        cursor = raw.cursor()
        if statement is not None:
            cursor.execute(statement)
        yield cursor
        raw.commit()
    except engine.dialect.loaded_dbapi.Error as error:
        _rollback(raw)
        disconnected = engine.dialect.is_disconnect(error, raw.dbapi_connection, cursor)
        if disconnected:
            raw.invalidate(error)
        raise cast(
            DBAPIError,
            DBAPIError.instance(
                None,
                None,
                error,
                engine.dialect.loaded_dbapi.Error,
                connection_invalidated=disconnected,
                dialect=engine.dialect,
            ),
        ) from error
    except BaseException:
        _rollback(raw)
        raise
    finally:
        raw.close()


def _rollback(raw: Any) -> None:
    try:
        raw.rollback()
    except Exception:  # a lost connection cannot roll back; the pool discards it
        return
