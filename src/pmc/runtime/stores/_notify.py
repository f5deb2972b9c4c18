"""PostgreSQL ``LISTEN/NOTIFY``: idle workers woken by the database, not by polling.

A trigger on ``pmc_work`` sends ``NOTIFY pmc_work, '<category> <due_at>'``
whenever a row is written unclaimed (an append planning, moving or retrying
work, or a claim released), in the writing transaction: PostgreSQL delivers
it at commit, and not at all if the transaction rolls back. Writers send
nothing themselves, so no append costs a statement more. A claim (which
sets ``claimed_by``) wakes nobody. The due time lets a waiter judge by the
store's clock (which tests replace) whether to claim now or to sleep until
then, without asking the database.

Each store listens on one dedicated connection, opened when a worker first
waits; a waiter blocks in ``select()`` on it (see ``_signal.WorkSignal``).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from pmc.runtime.stores._signal import Notice

CHANNEL = "pmc_work"


@dataclass(frozen=True, slots=True)
class PgTrigger:
    """A PL/pgSQL trigger function and the trigger calling it, both named ``name``."""

    name: str
    table: str
    # The function's body, as ``pg_proc.prosrc`` holds it: compared to find an old one.
    body: str
    # When it fires: ``AFTER INSERT ... FOR EACH ROW ...``, up to the function.
    fires: str

    def create_function(self) -> str:
        return (
            f"CREATE OR REPLACE FUNCTION {self.name}() RETURNS trigger"
            f" AS $${self.body}$$ LANGUAGE plpgsql"
        )

    def create_trigger(self) -> str:
        return (
            f"CREATE TRIGGER {self.name} {self.fires.format(table=self.table)}"
            f" EXECUTE FUNCTION {self.name}()"
        )


NOTIFY_TRIGGER = PgTrigger(
    name="pmc_work_notify",
    table="pmc_work",
    body=f"""
BEGIN
    PERFORM pg_notify(
        '{CHANNEL}', NEW.category || ' ' || to_char(NEW.due_at, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    );
    RETURN NULL;
END;
""",
    fires="AFTER INSERT OR UPDATE ON {table} FOR EACH ROW WHEN (NEW.claimed_by IS NULL)",
)

# The function as the connection's search path finds it (where it would create it).
_FUNCTION_BODY = (
    "SELECT prosrc FROM pg_proc WHERE proname = :name"
    " AND pronamespace = to_regnamespace(current_schema())"
)
logger = logging.getLogger(__name__)

# The table as the connection's search path finds it: each schema has its own.
_TRIGGER_EXISTS = "SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = to_regclass(:table)"


# SQLSTATEs of a role that may not create them: no privilege, a read-only transaction.
_NOT_ALLOWED = frozenset({"42501", "25006"})


def install_trigger(conn: Connection, trigger: PgTrigger) -> str | None:
    """Create ``trigger`` and its function, unless they exist (idempotent).

    None once they are in place; why not, if the function or the trigger is
    missing (or out of date) and this role may not create it, for instance
    a role that may write the tables but does not own them, in a database
    another version initialised. Called by ``SqlStore.init`` under its
    schema lock, so concurrent initialisations do not race; it creates
    nothing that exists already, so such a role can open a store made for it.
    """
    body = conn.execute(text(_FUNCTION_BODY), {"name": trigger.name}).scalar()
    found = {"name": trigger.name, "table": trigger.table}
    triggered = conn.execute(text(_TRIGGER_EXISTS), found).first() is not None
    if body == trigger.body and triggered:
        return None
    try:
        # A savepoint: a refusal must not undo the rest of ``init``.
        with conn.begin_nested():
            if body != trigger.body:
                conn.execute(text(trigger.create_function()))
            if not triggered:
                conn.execute(text(trigger.create_trigger()))
    except DBAPIError as error:
        if getattr(error.orig, "pgcode", None) not in _NOT_ALLOWED:
            raise
        return str(error.orig).strip().splitlines()[0]
    return None


def install_notify(conn: Connection) -> bool:
    """Create the trigger sending the notifications (``install_trigger``); whether
    notifications are sent."""
    refused = install_trigger(conn, NOTIFY_TRIGGER)
    if refused is not None:
        logger.warning(
            "this role may not create the trigger notifying workers of new work"
            " (%s); they poll instead. Run `pmc db init` as the tables' owner to"
            " have it.",
            refused,
        )
    return refused is None


def notice_of(payload: str) -> Notice:
    """A notification's payload, ``<category> <due_at>`` (naive UTC), read."""
    category, _, due_at = payload.rpartition(" ")
    return Notice(category, datetime.fromisoformat(due_at).replace(tzinfo=UTC))


class PgListener:
    """One connection ``LISTEN``ing on the work channel; one caller at a time.

    A connection that fails is dropped and opened again on the next wait;
    until then waiters poll (the store's fallback), so a database restart
    costs wake-ups, never work.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Any = None  # psycopg2's connection, untyped
        self._failing = False
        self._opening = threading.Lock()

    def wait(self, timeout: float) -> list[Notice]:
        try:
            connection = self._listening()
            readable, _, _ = select.select([connection], [], [], timeout)
            if not readable:
                return []
            connection.poll()
            notified = [notice_of(notify.payload) for notify in connection.notifies]
            connection.notifies.clear()
        except Exception:
            if not self._failing:
                logger.warning(
                    "listening for new work failed; polling until it works again", exc_info=True
                )
            self._failing = True
            self.close()
            # Instead of the notification that cannot come; the caller polls.
            time.sleep(timeout)
            return []
        self._failing = False
        return notified

    def listen(self) -> None:
        """Start listening now, so nothing committed from here on is missed."""
        try:
            self._listening()
        except Exception:
            self.close()  # ``wait`` tries again, and says why

    def _listening(self) -> Any:
        with self._opening:
            return self._connection or self._open()

    def _open(self) -> Any:
        pooled = self._engine.raw_connection()
        connection: Any = pooled.driver_connection
        # Ours for good: the pool neither counts it nor hands it out.
        pooled.detach()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                logger.debug("closing the listening connection failed", exc_info=True)
