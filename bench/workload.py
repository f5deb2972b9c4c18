"""What the store benchmarks share: two small processes, fresh stores, a stopwatch.

The processes are compiled from source at run time, so a benchmark always
measures the generated code of the pmc it runs with. Every measurement gets
a fresh store: an SQLite file in a temporary directory, or a schema of its
own on the PostgreSQL server (created, put first on the search path through
the URL, and dropped afterwards), so nothing left by one run slows another
and no table of the server's own is touched.
"""

from __future__ import annotations

import importlib
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import benchlib
import psycopg2
from benchlib import Options, Row, print_rows
from sqlalchemy import Pool, event
from sqlalchemy.pool import ConnectionPoolEntry

from pmc.compiler import compile_source
from pmc.runtime import ProcessManager
from pmc.runtime.results import Report
from pmc.runtime.stores import open_store
from pmc.runtime.worker import WorkerStats
from pmc.source import SourceFile

# Every input event plans one transition: a handle records the input event
# and one TransitionPlanned in one append.
HANDLE_PROCESS = """
process HandleBench {
    key id

    event Ping {
        id: str
        n: int
    }

    event Stop {
        id: str
    }

    machine Counter {
        states Idle, Busy, Done
        initial Idle
        final Done

        transition go: Idle -> Busy on Ping
        transition again: Busy -> Busy on Ping
        transition stop: Idle, Busy -> Done on Stop
    }
}
"""

# Start plans one async task; its completion ends the process. A task's
# whole life: claim, TaskStarted, the handler, TaskCompleted and its decision.
TASK_PROCESS = """
process TaskBench {
    key id

    event Start {
        id: str
    }

    task Work async {
    }

    machine Job {
        states Waiting, Running, Done, Failed
        initial Waiting
        final Done, Failed

        transition go: Waiting -> Running on Start
            run Work()
        transition done: Running -> Done on Work completed
        transition give_up: Running -> Failed on Work failed
    }

    complete when all Job final
}
"""


def load_process(source: str, name: str, directory: Path) -> ModuleType:
    """Compile ``source`` into ``directory/name.py`` and import it as ``name``."""
    code = compile_source(SourceFile(f"{name}.pm", source)).code
    if code is None:
        raise SystemExit(f"the benchmark process {name} does not check clean")
    (directory / f"{name}.py").write_text(code, encoding="utf-8")
    # Importable by name, as `pmc worker` imports a module: forked worker
    # processes inherit it.
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    return importlib.import_module(name)


Measure = Callable[[Options, ModuleType, "Stores"], list[Row]]


def print_measured(description: str, source: str, name: str, measure: Measure) -> None:
    """A script's main: read the options, compile ``source``, measure and print the rows."""
    options = benchlib.options(description.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp:
        module = load_process(source, name, Path(tmp))
        print_rows(measure(options, module, Stores(Path(tmp), options.postgres)))


class Stores:
    """Hands out URLs of fresh, empty stores: SQLite files, or PostgreSQL schemas."""

    def __init__(self, directory: Path, postgres: str | None) -> None:
        self._directory = directory
        self._postgres = postgres
        self._numbers = itertools.count()

    @contextmanager
    def fresh(self, backend: str) -> Iterator[str]:
        """The URL of an empty store on ``backend`` ("sqlite" or "postgresql")."""
        number = next(self._numbers)
        if backend == "sqlite":
            yield f"sqlite:///{self._directory / f'store{number}.db'}"
            return
        if self._postgres is None:
            raise ValueError("no PostgreSQL server given (--postgres URL)")
        schema = f"pmc_bench_{os.getpid()}_{number}"
        server = driver_url(self._postgres)
        run_sql(server, f"CREATE SCHEMA {schema}")
        try:
            yield with_search_path(self._postgres, schema)
        finally:
            run_sql(server, f"DROP SCHEMA {schema} CASCADE")


def backends(postgres: str | None) -> list[str]:
    """The backends to measure on: SQLite, and PostgreSQL when a server is given."""
    return ["sqlite", "postgresql"] if postgres else ["sqlite"]


def driver_url(url: str) -> str:
    """``url`` as libpq (psycopg2) reads it, without SQLAlchemy's driver suffix."""
    scheme, separator, rest = url.partition("://")
    return f"postgresql{separator}{rest}" if scheme.startswith("postgres") else url


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``schema`` first on the search path (libpq's ``options``)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


def run_sql(url: str, statement: str) -> None:
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@dataclass(frozen=True)
class Call:
    """One call pmc made on a driver connection or cursor, with its arguments.

    ``method`` is ``execute`` or ``executemany`` (sent on a cursor), or
    ``commit`` or ``rollback`` (on the connection).
    """

    method: str
    args: tuple[Any, ...] = ()


class RecordingCursor:
    """A driver cursor that notes every statement sent through it."""

    def __init__(self, target: Any, calls: list[Call]) -> None:
        self._target = target  # the driver's cursor (or connection)
        self._calls = calls

    def execute(self, *args: Any) -> Any:
        self._calls.append(Call("execute", args))
        return self._target.execute(*args)

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        self._calls.append(Call("executemany", (sql, rows)))
        return self._target.executemany(sql, rows)

    # Special methods are looked up on the type, past __getattr__.
    def __iter__(self) -> Any:
        return iter(self._target)

    def __enter__(self) -> Any:
        self._target.__enter__()
        return self

    def __exit__(self, *exception: object) -> Any:
        return self._target.__exit__(*exception)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._target, name, value)


class RecordingConnection(RecordingCursor):
    """A driver connection whose cursors note their statements, and which notes its commits."""

    def cursor(self, *args: Any, **kwargs: Any) -> RecordingCursor:
        return RecordingCursor(self._target.cursor(*args, **kwargs), self._calls)

    def commit(self) -> None:
        self._calls.append(Call("commit"))
        self._target.commit()

    def rollback(self) -> None:
        self._calls.append(Call("rollback"))
        self._target.rollback()


@contextmanager
def recording() -> Iterator[list[Call]]:
    """Every call on a driver connection opened while inside, for as long as it lives.

    Each connection any SQLAlchemy pool opens is replaced by a recording
    proxy as it is made (a pool ``connect`` listener), so whatever pmc sends
    is seen where the driver receives it: through SQLAlchemy or straight on
    the driver's cursor.
    """
    calls: list[Call] = []

    def on_connect(_dbapi_connection: object, record: ConnectionPoolEntry) -> None:
        record.dbapi_connection = RecordingConnection(record.dbapi_connection, calls)

    event.listen(Pool, "connect", on_connect)
    try:
        yield calls
    finally:
        event.remove(Pool, "connect", on_connect)


def interleaved_medians(
    repeats: int, ours: Callable[[], float], baseline: Callable[[], float]
) -> tuple[float, float]:
    """The medians of ``repeats`` runs of each, taken in turns.

    A busy spell of the machine then slows both sides, not only one.
    """
    runs = [(ours(), baseline()) for _ in range(repeats)]
    return statistics.median(o for o, _ in runs), statistics.median(b for _, b in runs)


def seconds_for(calls: Callable[[], None]) -> float:
    start = time.perf_counter()
    calls()
    return time.perf_counter() - start


class Tasks:
    """Handlers of TASK_PROCESS: ``work`` does nothing, or waits as I/O would."""

    def __init__(self, pause: float = 0.0, started: Callable[[], None] | None = None) -> None:
        self._pause = pause
        self._started = started

    def work(self, _task: object, _ctx: object) -> None:
        if self._started is not None:
            self._started()
        if self._pause:
            time.sleep(self._pause)


def start_tasks(module: ModuleType, url: str, count: int) -> float:
    """Handle ``count`` Start events (each plans one async task); the seconds it took."""
    store = open_store(url)
    manager = ProcessManager(module.DEFINITION, store)
    events = [module.Start(id=f"t{n}") for n in range(count)]
    try:
        return seconds_for(lambda: [manager.handle(event) for event in events])
    finally:
        store.close()


def worker_done_after(count: int) -> tuple[Callable[[Report, WorkerStats], None], threading.Event]:
    """A worker listener, and the event it sets once ``count`` attempts have completed."""
    done = threading.Event()

    def listener(_report: Report, stats: WorkerStats) -> None:
        if stats.completed >= count:
            done.set()

    return listener, done
