"""Handled appends per second: pmc's SQLite store against raw sqlite3 in WAL mode.

One "handled append" is what the process manager does per input event with
its folded state cached: read the stream's tail after the version it knows
(usually empty), then append one event at that expected version together
with one pending-work row. The baseline does the same reads and writes with
the standard library's sqlite3 and hand-written SQL, in the same run, so the
printed ratio is the price of event-sourcery, SQLAlchemy and the checks.

    python bench/store_append.py [--seconds 8] [--streams 50]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from event_sourcery import Event

from pmc.runtime.stores import NewEvent, WorkChanges, WorkRow, open_store


class BenchTick(Event):
    __event_name__ = "pmc_bench.BenchTick"
    n: int


def measure(step: Callable[[int], None], seconds: float) -> float:
    """Calls per second of ``step(i)`` over about ``seconds``."""
    start = time.perf_counter()
    done = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            step(done)
            done += 1
    return done / elapsed


def store_step(path: Path, streams: int) -> Callable[[int], None]:
    store = open_store(f"sqlite:///{path}")
    store.init()
    versions = dict.fromkeys(range(streams), 0)

    def step(i: int) -> None:
        stream = i % streams
        key = f"k{stream}"
        known = versions[stream]
        tail = store.load("Bench", key, after_version=known)
        known += len(tail)
        now = datetime.now(UTC)
        work = WorkChanges(upsert=(WorkRow(f"w{i % 3}", "task", now, {"n": i}),))
        store.append("Bench", key, [NewEvent(BenchTick(n=i), uuid.uuid4())], known, work, now)
        versions[stream] = known + 1

    return step


RAW_SCHEMA = """
CREATE TABLE streams (category TEXT, key TEXT, version INTEGER, PRIMARY KEY (category, key));
CREATE TABLE events (id INTEGER PRIMARY KEY, uuid TEXT UNIQUE, category TEXT, key TEXT,
    version INTEGER, name TEXT, data TEXT, created_at TEXT, UNIQUE (category, key, version));
CREATE TABLE work (category TEXT, key TEXT, work_id TEXT, kind TEXT, due_at TEXT, payload TEXT,
    PRIMARY KEY (category, key, work_id));
"""


def raw_step(path: Path, streams: int) -> Callable[[int], None]:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        db.execute(f"PRAGMA {pragma}")
    db.executescript(RAW_SCHEMA)
    versions = dict.fromkeys(range(streams), 0)

    def step(i: int) -> None:
        stream = i % streams
        key = f"k{stream}"
        known = versions[stream]
        db.execute("BEGIN")
        tail = db.execute(
            "SELECT data FROM events WHERE category = ? AND key = ? AND version > ?"
            " ORDER BY version",
            ("Bench", key, known),
        ).fetchall()
        db.execute("COMMIT")
        known += len(tail)
        now = datetime.now(UTC).isoformat()
        db.execute("BEGIN IMMEDIATE")
        if known == 0:
            db.execute("INSERT INTO streams VALUES (?, ?, 1)", ("Bench", key))
        else:
            cursor = db.execute(
                "UPDATE streams SET version = ? WHERE category = ? AND key = ? AND version = ?",
                (known + 1, "Bench", key, known),
            )
            if cursor.rowcount != 1:
                raise RuntimeError("version conflict in a single-writer benchmark")
        db.execute(
            "INSERT INTO events (uuid, category, key, version, name, data, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), "Bench", key, known + 1, "BenchTick", json.dumps({"n": i}), now),
        )
        db.execute(
            "INSERT INTO work VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " kind = excluded.kind, due_at = excluded.due_at, payload = excluded.payload",
            ("Bench", key, f"w{i % 3}", "task", now, json.dumps({"n": i})),
        )
        db.execute("COMMIT")
        versions[stream] = known + 1

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ours = measure(store_step(root / "store.db", args.streams), args.seconds)
        raw = measure(raw_step(root / "raw.db", args.streams), args.seconds / 2)
    print(f"pmc store (sqlite, event-sourcery): {ours:9.0f} handled appends/s")
    print(f"raw sqlite3 (WAL, same work):      {raw:9.0f} handled appends/s")
    print(f"ratio raw/store: {raw / ours:.1f}x")


if __name__ == "__main__":
    main()
