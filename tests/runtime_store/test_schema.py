"""Tables appear on first use, `init()` is idempotent, SQLite runs in WAL mode (3.35 or newer)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from pmc.runtime.stores import ProcessStore, StoreUrlError, open_store
from tests.conftest import OpenStore
from tests.runtime_store.events import added


def test_first_use_creates_the_tables(store: ProcessStore) -> None:
    assert store.load("Cleanup", "r1") == []
    store.append("Cleanup", "r1", [added("a")], 0)
    assert store.version("Cleanup", "r1") == 1


def test_init_is_idempotent_and_safe_from_many_processes_at_once(
    open_same_store: OpenStore,
) -> None:
    stores = [open_same_store() for _ in range(4)]
    errors: list[Exception] = []
    start = threading.Barrier(len(stores))

    def init(store: ProcessStore) -> None:
        start.wait()
        try:
            store.init()
            store.init()
        except Exception as error:  # a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=init, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stores[0].append("Cleanup", "r1", [added("a")], 0)
    assert stores[-1].version("Cleanup", "r1") == 1


def test_sqlite_store_uses_write_ahead_logging(tmp_path: Path) -> None:
    path = tmp_path / "pmc.db"
    store = open_store(f"sqlite:///{path}")
    store.init()
    store.close()

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master")}
    assert {"pmc_streams", "pmc_work", "event_sourcery_events"} <= tables


def test_an_sqlite_older_than_3_35_is_refused_naming_both_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store writes with `RETURNING`, which an older SQLite would reject mid-run."""
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")

    with pytest.raises(StoreUrlError, match=r"SQLite 3\.31\.1: pmc needs 3\.35\.0 or newer"):
        open_store(f"sqlite:///{tmp_path / 'old.db'}")
    assert not (tmp_path / "old.db").exists()
