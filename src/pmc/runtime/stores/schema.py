"""Tables of the SQL stores: event-sourcery's, plus two of ours.

- event-sourcery's stream row holds each stream's version, as event-sourcery
  itself keeps it. Every append takes it first, with a conditional
  ``UPDATE`` (or an ``INSERT ... ON CONFLICT DO NOTHING`` for a new stream),
  which both checks the expected version and serialises writers of one
  stream -- the same check event-sourcery's own appends make, so either may
  append after the other.
- ``pmc_streams`` anchors the ``pmc_work`` rows of a stream: pmc adds a
  stream's row when it creates the stream or first gives it work. Its
  ``version`` column is no longer a version: stores before issue 11 (pmc
  0.4) kept the version there, and databases they made still open (their
  event-sourcery stream rows always held the same version). It holds
  ``RETIRED_VERSION`` instead (``init`` sets it, a trigger keeps it on
  every new row), so such an old store left running cannot write: see
  ``RETIRED_VERSION``.
- ``pmc_work`` is the pending-work index.
- ``pmc_instances`` and ``pmc_instance_states`` are the instance index
  (``pmc.runtime.instances``): a row per stream, and a row per machine
  instance of it with its state, indexed for ``state=(machine, state)``.
  Written in the transaction of the events; no foreign key to
  ``pmc_streams``, which streams event-sourcery created lack.
"""

from __future__ import annotations

import hashlib
import threading

from event_sourcery_sqlalchemy import configure_models
from event_sourcery_sqlalchemy.models.default import (
    DefaultEvent,
    DefaultOutboxEntry,
    DefaultProjectorCursor,
    DefaultSnapshot,
    DefaultStream,
)
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase

from pmc.runtime.stores.api import MAX_NAME_LENGTH

metadata = MetaData()

# ``pmc_streams.version`` of every row, set by ``SqlStore.init`` and, on new rows
# (pmc 0.4's too), by a trigger (``sql.RETIRE_TRIGGER``).
# A pmc 0.4 store still running trusts that column, which this store no longer
# moves: left there, a stale version would let its conditional update (``SET
# version = new WHERE version = expected``) match and its work changes undo
# newer ones. No version it ever expects equals this one, so every write it
# tries is a version conflict (it gives up after its retries, loudly); its
# ``load`` short cut (nothing new when that version <= the caller's) never
# applies, so it reads the events themselves; its ``version()`` answers a
# number no stream reaches. The largest BIGINT: one event more overflows.
RETIRED_VERSION = 2**63 - 1

streams = Table(
    "pmc_streams",
    metadata,
    Column("category", String(MAX_NAME_LENGTH), primary_key=True),
    Column("key", String(MAX_NAME_LENGTH), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

work = Table(
    "pmc_work",
    metadata,
    Column("category", String(MAX_NAME_LENGTH), primary_key=True),
    Column("key", String(MAX_NAME_LENGTH), primary_key=True),
    Column("work_id", String(MAX_NAME_LENGTH), primary_key=True),
    Column("kind", String(MAX_NAME_LENGTH), nullable=False),
    Column("due_at", DateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("claimed_by", String(MAX_NAME_LENGTH), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    ForeignKeyConstraint(["category", "key"], [streams.c.category, streams.c.key]),
    Index("ix_pmc_work_due_at", "due_at"),
)


instances = Table(
    "pmc_instances",
    metadata,
    Column("category", String(MAX_NAME_LENGTH), primary_key=True),
    Column("key", String(MAX_NAME_LENGTH), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("last_failure", JSON, nullable=True),
    Column("end_reason", Text, nullable=True),
    # No index on the columns every append sets (version, updated_at...):
    # PostgreSQL then updates the row in place (a HOT update) without
    # touching an index, on the hot path; a query by time scans the
    # category's rows, or its running ones.
    Index("ix_pmc_instances_status", "category", "status", "key"),
)

instance_states = Table(
    "pmc_instance_states",
    metadata,
    Column("category", String(MAX_NAME_LENGTH), primary_key=True),
    Column("key", String(MAX_NAME_LENGTH), primary_key=True),
    Column("machine", Text, primary_key=True),
    # Machine ids come from event data, and nothing bounds their length: the
    # key holds a digest of the id (``machine_id_digest``), because an index
    # entry must fit a fraction of a page (PostgreSQL refused a 12 kB id, and
    # a VARCHAR(255) refused a 300-character one).
    Column("machine_digest", String(64), primary_key=True),
    Column("machine_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Index("ix_pmc_instance_states_state", "category", "machine", "state"),
)


# Pages of instances go by key in code point order, which PostgreSQL spells
# COLLATE "C" (its default collation may be a language's); this index serves
# them there. SQLite's own order is code point order: the primary key serves.
Index("ix_pmc_instances_key_c", instances.c.category, instances.c.key.collate("C")).ddl_if(
    dialect="postgresql"
)


def machine_id_digest(machine_id: str) -> str:
    """The key of a machine instance in ``pmc_instance_states``: a fixed-size digest."""
    # surrogatepass: a JSON string may hold a lone surrogate, which strict
    # UTF-8 cannot encode; the digest must still be total.
    return hashlib.sha256(machine_id.encode("utf-8", "surrogatepass")).hexdigest()


class _EventSourceryBase(DeclarativeBase):
    pass


_models_lock = threading.Lock()
_models_configured = False


def event_sourcery_tables() -> list[Table]:
    """event-sourcery's tables, mapping its models first if nobody has yet.

    ``configure_models`` must run once per process. If the application
    already ran it with its own base, the models are mapped there and this
    call leaves them alone; reading the tables off the models works either way.
    """
    global _models_configured
    with _models_lock:
        if not _models_configured:
            configure_models(_EventSourceryBase)
            _models_configured = True
    models = (
        DefaultStream,
        DefaultEvent,
        DefaultSnapshot,
        DefaultOutboxEntry,
        DefaultProjectorCursor,
    )
    return [table_of(model) for model in models]


def table_of(model: type[object]) -> Table:
    table = getattr(model, "__table__", None)
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def stream_and_event_tables() -> tuple[Table, Table]:
    """event-sourcery's streams and events tables (event ids are unique in the latter)."""
    event_sourcery_tables()
    return table_of(DefaultStream), table_of(DefaultEvent)
