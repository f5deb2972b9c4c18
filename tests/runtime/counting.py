"""A store that counts the calls made to it, to show what the runtime reads and writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Pool, event
from sqlalchemy.pool import ConnectionPoolEntry

from pmc.runtime.stores import ProcessStore

# The calls that reach the database; ``now`` and the like are left out.
COUNTED = frozenset(
    {"load", "load_recorded", "version", "append", "append_many", "claim_and_append"}
)


class CountingStore:
    """Passes every call to ``inner``, counting those in ``COUNTED`` by name.

    Calls ``inner`` makes to itself (``append_many`` done as one ``append``
    per request, say) are not counted: what is counted is what the caller asked.
    """

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in COUNTED:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted

    def take(self) -> dict[str, int]:
        """The calls counted since the last ``take``."""
        taken = dict(self.calls)
        self.calls.clear()
        return taken


def counting(store: ProcessStore) -> tuple[ProcessStore, CountingStore]:
    """``store`` wrapped, typed as a store for the runtime and as itself for the test."""
    wrapped = CountingStore(store)
    as_store: ProcessStore = wrapped  # type: ignore[assignment]
    return as_store, wrapped


class DriverCalls:
    """The statements and transactions SQL stores send their driver, noted where it receives them.

    Every connection a pool opens while ``noting()`` is active is wrapped as it
    is made, so what goes through SQLAlchemy and what goes straight to the
    driver's cursor are seen alike. ``transactions`` holds the first word
    of each statement, one list per transaction (ended by a commit or
    rollback).
    """

    def __init__(self) -> None:
        self.transactions: list[list[str]] = [[]]

    @contextmanager
    def noting(self) -> Iterator[DriverCalls]:
        def on_connect(_dbapi_connection: object, record: ConnectionPoolEntry) -> None:
            record.dbapi_connection = _NotingConnection(record.dbapi_connection, self)

        event.listen(Pool, "connect", on_connect)
        try:
            yield self
        finally:
            event.remove(Pool, "connect", on_connect)

    def take(self) -> list[list[str]]:
        """The transactions ended since the last ``take``.

        Without empty ones: a pool rolls a connection back when it is returned.
        """
        ended, self.transactions = self.transactions[:-1], self.transactions[-1:]
        return [statements for statements in ended if statements]

    def statement(self, sql: str) -> None:
        self.transactions[-1].append(sql.split()[0].upper())

    def end(self) -> None:
        self.transactions.append([])


class _Noting:
    """A driver object passing everything on."""

    def __init__(self, target: Any, calls: DriverCalls) -> None:
        self._target = target
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._target, name, value)


class _NotingCursor(_Noting):
    def execute(self, sql: str, *args: Any) -> Any:
        self._calls.statement(sql)
        return self._target.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._calls.statement(sql)
        return self._target.executemany(sql, *args)

    def __iter__(self) -> Any:
        return iter(self._target)


class _NotingConnection(_Noting):
    def cursor(self, *args: Any, **kwargs: Any) -> _NotingCursor:
        return _NotingCursor(self._target.cursor(*args, **kwargs), self._calls)

    def execute(self, sql: str, *args: Any) -> Any:
        self._calls.statement(sql)
        return self._target.execute(sql, *args)

    def commit(self) -> None:
        self._target.commit()
        self._calls.end()

    def rollback(self) -> None:
        self._target.rollback()
        self._calls.end()
