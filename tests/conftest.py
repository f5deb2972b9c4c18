"""Store fixtures: every store test runs on memory, an SQLite file and PostgreSQL.

A test that asks for the ``clock`` fixture (a fake clock) gets stores running
on it: the store is the one place a clock is given to.

PostgreSQL runs only when ``PMC_TEST_POSTGRES_URL`` names a server (``.ci/postgres.sh
start`` prints one); each test then gets its own schema, dropped afterwards.

Also ``mypy_cache``: one mypy cache for every test that runs ``mypy --strict``
on generated modules.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from pmc.runtime.stores import ProcessStore, open_store
from tests.fake_clock import FakeClock

POSTGRES_ENV = "PMC_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Put the console scripts installed beside this interpreter on PATH.

    The README runs the suite as `.venv/bin/python -m pytest` without activating
    the virtualenv; tests that run `pmc` or `pre-commit` as a user types them
    must still find the ones installed with the interpreter under test.
    """
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, path]) if path else scripts


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url and os.environ.get("CI") == "true":
        # CI starts a server (.ci/run): a missing one there is a broken run, not a skip.
        pytest.fail(f"CI=true but {POSTGRES_ENV} is not set")
    if not url:
        pytest.skip(f'no PostgreSQL server: set {POSTGRES_ENV} (eval "$(.ci/postgres.sh start)")')
    return url


def _drop_schema(admin: sqlalchemy.Engine, schema: str) -> None:
    # A test that abandons workers mid-task (as a crash would) can leave their
    # connections locking the schema's tables while it is dropped; PostgreSQL
    # then aborts the drop as a deadlock. Those connections end on their own,
    # so the drop is tried again.
    for attempt in range(5):
        try:
            with admin.begin() as conn:
                conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except sqlalchemy.exc.OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections see only a fresh, private schema."""
    server = sqlalchemy.make_url(postgres_server_url())
    schema = f"pmc_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server)
    try:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        scoped = server.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
        _drop_schema(admin, schema)
    finally:
        admin.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    backend: str = request.param
    if backend == "memory":
        return "memory://"
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


OpenStore = Callable[[], ProcessStore]


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mypy cache shared by the session's ``mypy --strict`` runs on generated modules.

    What a generated module imports (pmc.runtime, pydantic, event-sourcery)
    takes mypy seconds to analyse and is the same for every module: analysed
    once, each later run checks only its own modules. mypy checks a cached
    module again when its file changed, so sharing changes no verdict.
    """
    return tmp_path_factory.mktemp("mypy_cache")


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock, which the test's stores then run on."""
    return FakeClock()


@pytest.fixture
def open_same_store(store_url: str, request: pytest.FixtureRequest) -> Iterator[OpenStore]:
    """Opens another store object on the same data, as another process would.

    ``memory://`` lives in one object, so there every call returns that object.
    The stores run on the test's ``clock`` if it asks for one, else on their own.
    """
    clock = request.getfixturevalue("clock") if "clock" in request.fixturenames else None
    opened: list[ProcessStore] = []
    shared = open_store(store_url, clock=clock) if store_url == "memory://" else None

    def open_another() -> ProcessStore:
        if shared is not None:
            return shared
        store = open_store(store_url, clock=clock)
        opened.append(store)
        return store

    yield open_another
    for store in opened:
        store.close()


@pytest.fixture
def store(open_same_store: OpenStore) -> ProcessStore:
    return open_same_store()


@pytest.fixture
def few_sqlite_variables() -> Iterator[None]:
    """SQLite connections opened meanwhile take at most 999 variables a statement,
    the limit of SQLite builds before 3.32 (newer ones allow 32,766)."""

    def limit(dbapi_connection: Any, _record: object) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    sqlalchemy.event.listen(sqlalchemy.Engine, "connect", limit)
    yield
    sqlalchemy.event.remove(sqlalchemy.Engine, "connect", limit)
