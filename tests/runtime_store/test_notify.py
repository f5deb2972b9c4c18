"""PostgreSQL's triggers (work notifications, retired versions): set up once by the
tables' owner, used by any role."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

import pytest
import sqlalchemy
from sqlalchemy import text

from pmc.runtime.stores import SqlStore, WorkChanges, WorkRow, _notify, open_store
from pmc.runtime.stores._notify import PgListener
from pmc.runtime.stores._signal import WorkSignal
from tests.runtime_store.events import added


def run_as_admin(url: str, *statements: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


@pytest.fixture
def app_url(postgres_url: str) -> Iterator[str]:
    """A role that may read and write the store's tables (made by the owner) but owns nothing."""
    owner = open_store(postgres_url)
    owner.init()
    owner.close()
    url = sqlalchemy.make_url(postgres_url)
    schema = str(url.query["options"]).removeprefix("-csearch_path=")
    role = f"pmc_app_{uuid.uuid4().hex[:12]}"
    run_as_admin(
        postgres_url,
        f"CREATE ROLE {role} LOGIN",
        f'GRANT USAGE ON SCHEMA "{schema}" TO {role}',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}',
    )
    yield url.set(username=role).render_as_string(hide_password=False)
    run_as_admin(postgres_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def open_sql(url: str) -> SqlStore:
    store = open_store(url)
    assert isinstance(store, SqlStore)
    return store


def test_a_role_owning_nothing_opens_a_store_made_for_it(app_url: str) -> None:
    store = open_sql(app_url)
    store.init()

    work = WorkChanges(upsert=(WorkRow("w1", "task", store.now()),))
    store.append("Cleanup", "r1", [added("disk")], 0, work)
    assert store.wait_for_due(1.0)
    assert isinstance(store._signal._listener, PgListener)  # notified, not polling
    store.close()


def test_without_the_trigger_and_the_right_to_make_it_workers_poll(
    postgres_url: str, app_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database initialised by a version without notifications, say."""
    run_as_admin(postgres_url, "DROP TRIGGER pmc_work_notify ON pmc_work")
    store, writer = open_sql(app_url), open_sql(app_url)

    with caplog.at_level(logging.WARNING):
        store.init()
    soon = writer.now() + timedelta(milliseconds=200)
    writer.append(
        "Cleanup", "r1", [added("disk")], 0, WorkChanges(upsert=(WorkRow("w1", "task", soon),))
    )

    assert "may not create the trigger" in caplog.text
    assert store.wait_for_due(5.0)  # polled: seen although nothing notifies it
    assert type(store._signal) is WorkSignal and store._signal._listener is None
    store.close()
    writer.close()


def test_without_the_retiring_trigger_and_the_right_to_make_it_a_store_still_opens(
    postgres_url: str, app_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The other trigger ``init`` creates with the tables (``sql.RETIRE_TRIGGER``):
    a role owning nothing warns and goes on; only streams a pmc 0.4 store
    creates later then stay open to it."""
    run_as_admin(postgres_url, "DROP TRIGGER pmc_streams_retired ON pmc_streams")
    store = open_sql(app_url)

    with caplog.at_level(logging.WARNING):
        store.init()
    store.append("Cleanup", "r1", [added("disk")], 0)

    assert "may not create the trigger locking pmc 0.4 stores out" in caplog.text
    assert store.version("Cleanup", "r1") == 1
    store.close()


class FakeListening:
    """psycopg2's connection as ``PgListener`` uses it, with a notification pending."""

    def __init__(self) -> None:
        self.autocommit = False
        self.notifies: list[SimpleNamespace] = []

    def cursor(self) -> contextlib.nullcontext[SimpleNamespace]:
        return contextlib.nullcontext(SimpleNamespace(execute=lambda _sql: None))

    def poll(self) -> None:
        self.notifies.append(SimpleNamespace(payload="Cleanup 2030-01-01T12:00:00.000000"))

    def close(self) -> None:
        pass


class SlowEngine:
    """Hands out listening connections; the second waits for ``go`` before it comes."""

    def __init__(self) -> None:
        self.opened = 0
        self.opening = threading.Event()
        self.go = threading.Event()

    def raw_connection(self) -> SimpleNamespace:
        self.opened += 1
        if self.opened == 2:
            self.opening.set()
            self.go.wait()
        return SimpleNamespace(driver_connection=FakeListening(), detach=lambda: None)


def test_a_listener_reopens_one_connection_however_many_threads_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wait that succeeds while another thread is opening does not let a third open too."""
    engine = SlowEngine()
    listener = PgListener(cast(sqlalchemy.Engine, engine))
    selecting, notified = threading.Event(), threading.Event()

    def select_notified(readers: list[object], *_: object) -> tuple[list[object], list, list]:
        selecting.set()
        notified.wait()
        return readers, [], []

    monkeypatch.setattr(_notify.select, "select", select_notified)
    waiter = threading.Thread(target=listener.wait, args=(5.0,))
    waiter.start()
    selecting.wait()
    listener.close()  # the connection failed, say: the next caller opens another
    opener = threading.Thread(target=listener.listen)
    opener.start()
    engine.opening.wait()  # the opener holds the lock, opening
    notified.set()
    waiter.join()  # its wait succeeded meanwhile
    another = threading.Thread(target=listener.listen)
    another.start()
    engine.go.set()
    opener.join()
    another.join()

    assert engine.opened == 2  # the first, and one again after it closed
