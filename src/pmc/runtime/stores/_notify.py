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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from pmc.runtime.stores._signal import Notice

CHANNEL = "pmc_work"
_FUNCTION = "pmc_work_notify"
_TRIGGER = "pmc_work_notify"

# The function's body, as ``pg_proc.prosrc`` holds it: compared to find an old one.
_BODY = f"""
BEGIN
    PERFORM pg_notify(
        '{CHANNEL}', NEW.category || ' ' || to_char(NEW.due_at, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    );
    RETURN NULL;
END;
"""
_CREATE_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger AS $${_BODY}$$ LANGUAGE plpgsql"
)
# The function as the connection's search path finds it (where it would create it).
_FUNCTION_BODY = (
    "SELECT prosrc FROM pg_proc WHERE proname = :name"
    " AND pronamespace = to_regnamespace(current_schema())"
)
_CREATE_TRIGGER = f"""
CREATE TRIGGER {_TRIGGER} AFTER INSERT OR UPDATE ON pmc_work
FOR EACH ROW WHEN (NEW.claimed_by IS NULL) EXECUTE FUNCTION {_FUNCTION}()
"""
logger = logging.getLogger(__name__)

# The table as the connection's search path finds it: each schema has its own.
_TRIGGER_EXISTS = "SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = 'pmc_work'::regclass"


# SQLSTATEs of a role that may not create them: no privilege, a read-only transaction.
_NOT_ALLOWED = frozenset({"42501", "25006"})


def install_notify(conn: Connection) -> bool:
    """Create the trigger sending the notifications, unless it exists (idempotent).

    Whether notifications are sent: False if the trigger or its function is
    missing (or out of date) and this role may not create it, for instance
    a role that may write the tables but does not own them, in a database
    another version initialised. Called by ``SqlStore.init`` under its
    schema lock, so concurrent initialisations do not race; it creates
    nothing that exists already, so such a role can open a store made for it.
    """
    body = conn.execute(text(_FUNCTION_BODY), {"name": _FUNCTION}).scalar()
    triggered = conn.execute(text(_TRIGGER_EXISTS), {"name": _TRIGGER}).first() is not None
    if body == _BODY and triggered:
        return True
    try:
        # A savepoint: a refusal must not undo the rest of ``init``.
        with conn.begin_nested():
            if body != _BODY:
                conn.execute(text(_CREATE_FUNCTION))
            if not triggered:
                conn.execute(text(_CREATE_TRIGGER))
    except DBAPIError as error:
        if getattr(error.orig, "pgcode", None) not in _NOT_ALLOWED:
            raise
        logger.warning(
            "this role may not create the trigger notifying workers of new work"
            " (%s); they poll instead. Run `pmc db init` as the tables' owner to"
            " have it.",
            str(error.orig).strip().splitlines()[0],
        )
        return False
    return True


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
