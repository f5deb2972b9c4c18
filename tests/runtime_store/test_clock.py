"""One clock per store: the time the runtime compares leases and due times with.

PostgreSQL stores read the database server's clock, so workers on machines
whose clocks are off agree; SQLite (one machine) and memory stores read the
local clock; tests give a store a fake clock, and everything reading time
through that store follows it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from pmc.runtime.stores import ProcessStore, WorkChanges, WorkRow, open_store
from pmc.runtime.stores._clock import DatabaseClock
from tests.fake_clock import FakeClock, faketime
from tests.runtime_store.events import T0, added

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def test_a_store_given_a_fake_clock_tells_its_time(store: ProcessStore, clock: FakeClock) -> None:
    assert store.now() == T0
    clock.advance(seconds=90)
    assert store.now() == T0 + timedelta(seconds=90)


def test_appends_are_stamped_with_the_store_clock(store: ProcessStore, clock: FakeClock) -> None:
    [stored] = store.append("Cleanup", "r1", [added("a")], 0)

    assert stored.created_at == T0
    assert store.load("Cleanup", "r1")[0].created_at == T0


def test_waiting_for_work_reads_the_store_clock(store: ProcessStore, clock: FakeClock) -> None:
    later = WorkRow("close", "task", T0 + timedelta(minutes=5))
    store.append("Cleanup", "r1", [added("a")], 0, WorkChanges(upsert=(later,)))

    assert store.wait_for_due(timeout=0.1) is False
    clock.advance(minutes=5)
    assert store.wait_for_due(timeout=0.1) is True


def test_sqlite_and_memory_stores_read_the_local_clock(tmp_path: Path) -> None:
    for url in ("memory://", f"sqlite:///{tmp_path / 'store.db'}"):
        store = open_store(url)
        try:
            before = datetime.now(UTC)
            now = store.now()
            assert before <= now <= datetime.now(UTC)
        finally:
            store.close()


@pytest.mark.postgres
def test_a_postgres_store_tells_the_database_time(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        before, now, after = _database_time(postgres_url), store.now(), _database_time(postgres_url)
    finally:
        store.close()
    assert now.tzinfo is not None
    assert before - timedelta(milliseconds=50) <= now <= after + timedelta(milliseconds=50)


@pytest.mark.postgres
@pytest.mark.parametrize("offset", ["+5m", "-5m"])
def test_a_postgres_store_on_a_machine_whose_clock_is_off_tells_the_database_time(
    postgres_url: str, offset: str
) -> None:
    prefix, env = faketime(offset)
    before = _database_time(postgres_url)
    output = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.runtime_store.clock_child", postgres_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    after = _database_time(postgres_url)
    store_now, local_now = (datetime.fromisoformat(text) for text in output.split())

    shift = timedelta(minutes=5 if offset.startswith("+") else -5)
    # The child's own clock really was off, so the test shows something.
    assert abs(local_now - shift - store_now) < timedelta(seconds=30)
    assert before - timedelta(milliseconds=50) <= store_now <= after + timedelta(milliseconds=50)


def _database_time(url: str) -> datetime:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(sqlalchemy.text("SELECT clock_timestamp()")).scalar_one()
    finally:
        engine.dispose()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


# ---- the database clock between two reads ----------------------------------------------


class Ticks:
    """A fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_database_clock_runs_on_from_its_last_reading() -> None:
    ticks = Ticks()
    readings = [T0, T0 + timedelta(hours=1)]
    reads: list[datetime] = []

    def read() -> datetime:
        reads.append(readings[len(reads)])
        return reads[-1]

    clock = DatabaseClock(read, refresh_seconds=5, monotonic=ticks)

    assert clock() == T0
    ticks.now += 4.5
    assert clock() == T0 + timedelta(seconds=4.5)
    assert len(reads) == 1  # no round trip within the refresh interval
    ticks.now += 0.5
    assert clock() == T0 + timedelta(hours=1)  # read again: the database clock moved
    assert len(reads) == 2


def test_the_database_clock_is_read_once_by_threads_that_ask_together() -> None:
    reads: list[int] = []

    def read() -> datetime:
        reads.append(1)
        time.sleep(0.05)
        return T0

    clock = DatabaseClock(read, refresh_seconds=60)
    threads = [threading.Thread(target=clock) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(reads) == 1
