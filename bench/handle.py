"""Rows 1 and 2: ProcessManager.handle against the raw driver issuing the same statements.

pmc's figure: ``ProcessManager.handle`` of 2,000 input events (300 with
--quick) of a small process (each plans one transition, so one handle
appends the input event and a ``TransitionPlanned``), round robin over 50 streams,
on a fresh store, with a fresh manager (its cache fills as it goes).

The baseline makes exactly the driver calls pmc made, no more and no less,
with the raw driver (the standard library's ``sqlite3``; ``psycopg2`` on
PostgreSQL). The calls are recorded from pmc itself in a warm-up run of the
same events on another fresh store (``workload.recording``): every driver
connection SQLAlchemy's pools open meanwhile is wrapped as it is made (a
pool ``connect`` listener) in a proxy that notes each ``execute``/``executemany`` on its
cursors with the statement and parameters exactly as the driver got them,
and each ``commit``/``rollback``, whether pmc went through SQLAlchemy or
straight to the driver's cursor. The baseline makes those calls on a fresh
store whose tables pmc created, fetching every result, on one connection
set up as pmc sets up its own (SQLite: WAL, ``synchronous=NORMAL``, a busy
timeout, foreign keys on; ``BEGIN IMMEDIATE`` for writes is among the
recorded statements). So the baseline reads and writes exactly what pmc
does (event-sourcery's tables, the version row, the work index, and
whatever reads pmc still makes) and follows any change to pmc's statements
without editing this script; what it leaves out is everything pmc does in
Python around them.

    python bench/handle.py [--quick] [--postgres URL] [--repeats N]
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import psycopg2
from benchlib import Options, Row
from workload import (
    HANDLE_PROCESS,
    Call,
    Stores,
    backends,
    driver_url,
    interleaved_medians,
    print_measured,
    recording,
    seconds_for,
)

from pmc.runtime import ProcessManager
from pmc.runtime.stores import open_store

STREAMS = 50
GOALS = {"sqlite": 0.3, "postgresql": 0.5}
RAW_DRIVER = {"sqlite": "raw sqlite3", "postgresql": "raw psycopg2"}


def replay(connection: Any, calls: Sequence[Call]) -> None:
    """Make ``calls`` on a driver ``connection``, fetching every result."""
    cursor = connection.cursor()
    for call in calls:
        if call.method in ("commit", "rollback"):
            getattr(connection, call.method)()
            continue
        getattr(cursor, call.method)(*call.args)
        if cursor.description is not None:
            cursor.fetchall()


def raw_connection(backend: str, url: str) -> Any:
    if backend == "postgresql":
        return psycopg2.connect(driver_url(url))
    # As pmc's store connects: it issues BEGIN itself, so the driver must not.
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in ("busy_timeout=30000", "journal_mode=WAL", "synchronous=NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


@contextmanager
def handling(
    module: ModuleType, url: str, events: Sequence[object]
) -> Iterator[Callable[[], None]]:
    """A run of ``handle`` over ``events`` on the store at ``url``, ready to time."""
    store = open_store(url)
    store.init()
    manager = ProcessManager(module.DEFINITION, store)

    def run() -> None:
        for input_event in events:
            manager.handle(input_event)  # type: ignore[arg-type]

    try:
        yield run
    finally:
        store.close()


def measure(options: Options, module: ModuleType, stores: Stores) -> list[Row]:
    count = 300 if options.quick else 2000
    events = [module.Ping(id=f"k{n % STREAMS}", n=n) for n in range(count)]
    return [row(options, module, stores, backend, events) for backend in backends(options.postgres)]


def row(
    options: Options, module: ModuleType, stores: Stores, backend: str, events: Sequence[object]
) -> Row:
    with (
        stores.fresh(backend) as url,
        recording() as calls,
        handling(module, url, events) as run,
    ):
        del calls[:]  # creating the tables
        run()
        statements = list(calls)

    def ours() -> float:
        with stores.fresh(backend) as url, handling(module, url, events) as run:
            return len(events) / seconds_for(run)

    def raw() -> float:
        with stores.fresh(backend) as url:
            schema = open_store(url)
            schema.init()
            schema.close()
            connection = raw_connection(backend, url)
            try:
                return len(events) / seconds_for(lambda: replay(connection, statements))
            finally:
                connection.close()

    handled, baseline = interleaved_medians(options.repeats, ours, raw)
    per_handle = sum(call.method.startswith("execute") for call in statements) / len(events)
    return Row(
        f"handle, {backend} vs {RAW_DRIVER[backend]} (same statements)",
        f"{handled:.0f} events/s",
        f"{baseline:.0f}/s, {per_handle:.1f} statements per handle",
        handled / baseline,
        f">= {GOALS[backend]}x",
        handled / baseline >= GOALS[backend],
    )


def main() -> None:
    print_measured(__doc__, HANDLE_PROCESS, "handle_bench", measure)


if __name__ == "__main__":
    main()
