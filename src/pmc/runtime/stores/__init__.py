"""Process stores: events through event-sourcery plus a durable pending-work index.

``open_store(url)`` picks the backend:

- ``memory://`` — in this process only, for tests;
- ``sqlite:///path.db`` — the embedded default, shared by the processes of one machine;
- ``postgresql://user@host:port/db`` — for workers on several machines.

A store's ``now()`` is the one clock its runners go by: the database
server's for PostgreSQL, the local one otherwise; ``open_store(url, clock)``
replaces it with a fake clock for tests.
"""

from __future__ import annotations

from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from pmc.runtime.stores._events import event_of
from pmc.runtime.stores.api import (
    NO_WORK,
    AppendOutcome,
    AppendRejected,
    AppendRequest,
    ClaimAppends,
    Claimed,
    Clock,
    DuplicateEventId,
    JsonValue,
    NewEvent,
    PendingWork,
    ProcessStore,
    RecordedEvent,
    StoredEvent,
    StoreUrlError,
    StreamBusy,
    UnstorableValue,
    VersionConflict,
    WorkChanges,
    WorkItem,
    WorkRow,
)
from pmc.runtime.stores.memory import MemoryStore
from pmc.runtime.stores.sql import SqlStore, postgres_store, sqlite_store

__all__ = [
    "NO_WORK",
    "AppendOutcome",
    "AppendRejected",
    "AppendRequest",
    "ClaimAppends",
    "Claimed",
    "Clock",
    "DuplicateEventId",
    "JsonValue",
    "MemoryStore",
    "NewEvent",
    "PendingWork",
    "ProcessStore",
    "RecordedEvent",
    "SqlStore",
    "StoreUrlError",
    "StoredEvent",
    "StreamBusy",
    "UnstorableValue",
    "VersionConflict",
    "WorkChanges",
    "WorkItem",
    "WorkRow",
    "database_reason",
    "event_of",
    "open_store",
]

SUPPORTED_URLS = "memory://, sqlite:///path.db or postgresql://user@host:port/db"


def open_store(url: str, clock: Clock | None = None, *, outbox_attempts: int = 0) -> ProcessStore:
    """The store at ``url``; tables are created on first use (or by ``init()``).

    ``clock`` replaces the store's own clock (tests pass a fake one).
    ``outbox_attempts`` > 0 (SQL stores only) also puts every event into
    event-sourcery's outbox, with that many publishing attempts.
    A URL that names no store is a :class:`StoreUrlError`.
    """
    scheme = url.partition("://")[0].lower()
    try:
        if scheme == "memory" and url.lower() == "memory://":
            if outbox_attempts:
                raise StoreUrlError("memory:// keeps no outbox: use an SQL store")
            return MemoryStore(clock)
        if scheme == "sqlite":
            return sqlite_store(url, clock, outbox_attempts=outbox_attempts)
        if scheme in ("postgresql", "postgresql+psycopg2", "postgres"):
            # SQLAlchemy 2 no longer accepts the `postgres://` spelling.
            postgres_url = "postgresql" + url[len(scheme) :]
            return postgres_store(postgres_url, clock, outbox_attempts=outbox_attempts)
    except StoreUrlError:
        raise
    except (ArgumentError, ValueError) as error:  # SQLAlchemy cannot parse it (a port "x")
        raise StoreUrlError(f"not a store URL SQLAlchemy can open: {error}") from None
    raise StoreUrlError(f"unsupported store URL scheme `{scheme}`: expected {SUPPORTED_URLS}")


def database_reason(error: SQLAlchemyError) -> str:
    """The driver's own words, on one line, without SQLAlchemy's statement dump and link."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return "; ".join(lines) or type(cause).__name__
