"""PostgreSQL's work notifications: set up once by the tables' owner, used by any role."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy
from sqlalchemy import text

from pmc.runtime.stores import SqlStore, WorkChanges, WorkRow, open_store
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
