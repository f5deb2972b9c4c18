"""The pending-work index: written with the events, claimed once, reclaimable after a lease."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from pmc.runtime.stores import (
    DuplicateEventId,
    ProcessStore,
    VersionConflict,
    WorkChanges,
    WorkItem,
    WorkRow,
)
from tests.conftest import OpenStore
from tests.fake_clock import FakeClock
from tests.runtime_store.events import T0, added
from tests.runtime_store.rows import work_items


@pytest.fixture
def clock() -> FakeClock:
    """The stores' clock in the tests that ask for it: the rows are due at T0."""
    return FakeClock(T0)


def task(work_id: str, due_in: float = 0.0, **payload: str) -> WorkRow:
    return WorkRow(work_id, "task", T0 + timedelta(seconds=due_in), dict(payload))


def only(*rows: WorkRow) -> WorkChanges:
    return WorkChanges(upsert=rows)


def ids(items: list[WorkItem]) -> list[str]:
    return [item.work_id for item in items]


def test_work_rows_are_written_with_the_events(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(task("close:i-1", instance="i-1")))

    [item] = work_items(store, "Cleanup", "r1")
    assert item == WorkItem(
        category="Cleanup",
        key="r1",
        work_id="close:i-1",
        kind="task",
        due_at=T0,
        payload={"instance": "i-1"},
        claimed_by=None,
        lease_until=None,
    )


def test_a_rejected_append_leaves_no_work_row(store: ProcessStore) -> None:
    first = added("a")
    store.append("Cleanup", "r1", [first], 0)

    with pytest.raises(VersionConflict):
        store.append("Cleanup", "r1", [added("b")], 0, only(task("stale")))
    with pytest.raises(DuplicateEventId):
        store.append("Cleanup", "r1", [first], 1, only(task("duplicate")))
    with pytest.raises(VersionConflict):
        store.append("Cleanup", "r1", [], 5, only(task("stale, without events")))

    assert work_items(store, "Cleanup", "r1") == []
    assert not store.has_due(T0 + timedelta(days=1))


def test_upsert_replaces_a_row_and_clears_its_claim(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(task("close", attempt="1")))
    [claimed] = store.claim_due(T0, "worker-1", limit=10, lease_seconds=30)

    store.append("Cleanup", "r1", [added("b")], 1, only(task("close", due_in=5, attempt="2")))

    [item] = work_items(store, "Cleanup", "r1")
    assert (item.payload, item.due_at, item.claimed_by) == (
        {"attempt": "2"},
        claimed.due_at + timedelta(seconds=5),
        None,
    )


def test_work_changes_without_events_check_the_version(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(task("one"), task("two")))

    with pytest.raises(VersionConflict):
        store.append("Cleanup", "r1", [], 0, WorkChanges(delete=("one",)))
    store.append("Cleanup", "r1", [], 1, WorkChanges(delete=("one",)))

    assert ids(work_items(store, "Cleanup", "r1")) == ["two"]
    assert store.version("Cleanup", "r1") == 1


def test_work_needs_a_stream_with_events(store: ProcessStore) -> None:
    with pytest.raises(ValueError, match="has events"):
        store.append("Cleanup", "r1", [], 0, only(task("orphan")))


def test_claim_takes_due_unclaimed_rows_in_due_order(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(task("late", 20), task("soon", 10)))
    store.append("Cleanup", "r2", [added("a")], 0, only(task("first", 0), task("future", 60)))

    claimed = store.claim_due(T0 + timedelta(seconds=30), "w1", limit=10, lease_seconds=30)

    assert ids(claimed) == ["first", "soon", "late"]
    assert {(i.claimed_by, i.lease_until) for i in claimed} == {("w1", T0 + timedelta(seconds=60))}
    assert store.claim_due(T0 + timedelta(seconds=30), "w2", limit=10, lease_seconds=30) == []
    stored = {i.work_id: i for i in work_items(store, "Cleanup", "r1")}
    assert stored["soon"].claimed_by == "w1"


def test_claim_respects_the_limit(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(*(task(f"t{n}", n) for n in range(5))))

    assert ids(store.claim_due(T0 + timedelta(minutes=1), "w1", 2, 30)) == ["t0", "t1"]
    assert ids(store.claim_due(T0 + timedelta(minutes=1), "w2", 2, 30)) == ["t2", "t3"]


def test_a_claim_reads_the_claimed_streams_after_the_versions_asked(store: ProcessStore) -> None:
    first, second, third = added("a"), added("b"), added("c")
    store.append("Cleanup", "r1", [first, second], 0, only(task("one"), task("two")))
    store.append("Cleanup", "r2", [third], 0, only(task("three", 5)))
    asked: list[tuple[str, str]] = []

    def read_after(category: str, key: str) -> int:
        asked.append((category, key))
        return {"r1": 1, "r2": 0}[key]

    claimed = store.claim_due(T0 + timedelta(seconds=5), "w1", 10, 30, read_after=read_after)

    assert ids(claimed) == ["one", "two", "three"]
    assert sorted(asked) == [("Cleanup", "r1"), ("Cleanup", "r2")]  # once per stream
    tails = [(i.tail.after_version, [e.event_id for e in i.tail.events]) for i in claimed if i.tail]
    assert tails == [
        (1, [second.event_id]),
        (1, [second.event_id]),
        (0, [third.event_id]),
    ]
    assert all(item.tail is None for item in store.claim_due(T0 + timedelta(days=1), "w2", 10, 30))


def test_four_competing_claimers_get_each_row_once(open_same_store: OpenStore) -> None:
    writer = open_same_store()
    for n in range(40):
        rows = (task(f"{n}-a"), task(f"{n}-b", 1), task(f"{n}-later", 3600))
        writer.append("Cleanup", f"r{n}", [added("a")], 0, only(*rows))
    claims: list[WorkItem] = []
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def claim_until_empty(store: ProcessStore, worker: str) -> None:
        start.wait()
        try:
            while batch := store.claim_due(T0 + timedelta(seconds=2), worker, 3, 60):
                claims.extend(batch)
        except Exception as error:  # a thread's exception would otherwise vanish
            errors.append(error)

    threads = [
        threading.Thread(target=claim_until_empty, args=(open_same_store(), f"w{n}"))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    claimed = Counter((item.key, item.work_id) for item in claims)
    assert sorted(claimed) == sorted(
        (f"r{n}", f"{n}-{suffix}") for n in range(40) for suffix in ("a", "b")
    )
    assert set(claimed.values()) == {1}
    for item in claims:
        [stored] = [s for s in work_items(writer, "Cleanup", item.key) if s.work_id == item.work_id]
        assert stored.claimed_by == item.claimed_by


def test_an_expired_lease_makes_the_row_claimable_again(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(task("close")))
    [first] = store.claim_due(T0, "crashed-worker", limit=1, lease_seconds=30)

    assert store.claim_due(T0 + timedelta(seconds=29), "w2", 1, 30) == []
    assert not store.has_due(T0 + timedelta(seconds=29))
    assert store.has_due(T0 + timedelta(seconds=30))
    [again] = store.claim_due(T0 + timedelta(seconds=30), "w2", 1, 30)

    assert (again.work_id, again.claimed_by) == (first.work_id, "w2")
    assert again.lease_until == T0 + timedelta(seconds=60)


def test_release_by_the_holder_only(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], 0, only(task("close")))
    [stale] = store.claim_due(T0, "w1", 1, lease_seconds=10)
    [current] = store.claim_due(T0 + timedelta(seconds=10), "w2", 1, lease_seconds=10)

    assert store.release(stale) is False  # w1's lease ran out and w2 holds the row now
    assert store.release(current) is True
    assert store.release(current) is False
    assert ids(store.claim_due(T0 + timedelta(seconds=11), "w3", 1, 10)) == ["close"]


def test_has_due_ignores_future_and_held_rows(store: ProcessStore) -> None:
    assert not store.has_due(T0)
    store.append("Cleanup", "r1", [added("a")], 0, only(task("later", 10)))

    assert not store.has_due(T0)
    assert store.has_due(T0 + timedelta(seconds=10))


def test_an_idle_waiter_notices_new_work_within_100_ms(
    open_same_store: OpenStore, clock: FakeClock
) -> None:
    """The waiter uses its own store object: for SQL stores it must notice by polling."""
    writer, waiter = open_same_store(), open_same_store()
    writer.append("Cleanup", "r1", [added("a")], 0)
    woke: list[float] = []

    def wait() -> None:
        if waiter.wait_for_due(timeout=5):
            woke.append(time.monotonic())

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)  # let it settle into idle waiting
    written = time.monotonic()
    writer.append("Cleanup", "r1", [], 1, only(task("close")))
    thread.join()

    assert len(woke) == 1
    assert woke[0] - written < 0.1


def test_wait_for_due_times_out_when_nothing_is_due(store: ProcessStore, clock: FakeClock) -> None:
    started = time.monotonic()
    assert store.wait_for_due(timeout=0.15) is False
    assert 0.15 <= time.monotonic() - started < 1


def test_claims_refuse_naive_times_and_bad_limits(store: ProcessStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.claim_due(T0.replace(tzinfo=None), "w1", 1, 10)
    with pytest.raises(ValueError, match="limit"):
        store.claim_due(T0, "w1", 0, 10)
    with pytest.raises(ValueError, match="lease"):
        store.claim_due(T0, "w1", 1, 0)


def test_other_writers_write_while_a_claim_reads_its_streams(
    open_same_store: OpenStore, store_url: str
) -> None:
    # SQLite has one writer at a time: a claim reading (say) a cold worker's
    # whole streams under its write lock held up every other writer.
    if store_url.startswith("memory"):
        pytest.skip("the memory store is one process's: nothing waits on a lock there")
    store, other = open_same_store(), open_same_store()
    store.append("Cleanup", "r1", [added("a")], 0, only(task("one")))
    other.append("Cleanup", "r2", [added("b")], 0)
    finished_in_time: list[bool] = []

    def read_after(category: str, key: str) -> int:
        # Asked while the claim reads the streams.
        writer = threading.Thread(target=other.append, args=("Cleanup", "r2", [added("c")], 1))
        writer.start()
        writer.join(2.0)
        finished_in_time.append(not writer.is_alive())
        writer.join()
        return 0

    claimed = store.claim_due(T0 + timedelta(seconds=5), "w1", 10, 30, read_after=read_after)

    assert ids(claimed) == ["one"]
    assert finished_in_time == [True]
    assert len(other.load("Cleanup", "r2")) == 2
