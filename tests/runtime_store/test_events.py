"""Recording and reading streams: what `append` promises on every backend."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from pmc.runtime.stores import (
    DuplicateEventId,
    NewEvent,
    ProcessStore,
    StoredEvent,
    VersionConflict,
    open_store,
)
from pmc.runtime.stores.api import transient
from tests.conftest import OpenStore
from tests.runtime_store.events import T0, ItemAdded, ItemRemoved, added


def run_together(bodies: list[Callable[[], object]]) -> list[object]:
    """Start every body at the same instant in its own thread; results or exceptions."""
    barrier = threading.Barrier(len(bodies))
    results: list[object] = [None] * len(bodies)

    def run(index: int, body: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = body()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_events_round_trip_with_ids_versions_and_timestamps(open_same_store: OpenStore) -> None:
    writer = open_same_store()
    first = NewEvent(ItemAdded(item="disk"), uuid.uuid4())
    second = NewEvent(ItemRemoved(item="disk", reason="unused"), uuid.uuid4())

    recorded = writer.append("Cleanup", "r1", [first, second], expected_version=0, now=T0)

    expected = [
        StoredEvent(ItemAdded(item="disk"), 1, first.event_id, T0),
        StoredEvent(ItemRemoved(item="disk", reason="unused"), 2, second.event_id, T0),
    ]
    assert recorded == expected
    # A store opened separately (another process, for SQL) reads the same thing.
    assert open_same_store().load("Cleanup", "r1") == expected


def test_created_at_is_aware_utc_and_defaults_to_now(store: ProcessStore) -> None:
    [recorded] = store.append("Cleanup", "r1", [added("disk")], expected_version=0)
    [loaded] = store.load("Cleanup", "r1")

    assert loaded.created_at == recorded.created_at
    assert loaded.created_at.utcoffset() == timedelta(0)


def test_load_after_a_version_returns_only_the_tail(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a"), added("b")], expected_version=0)
    store.append("Cleanup", "r1", [added("c")], expected_version=2)

    assert [e.version for e in store.load("Cleanup", "r1", after_version=1)] == [2, 3]
    assert [e.event for e in store.load("Cleanup", "r1", after_version=2)] == [ItemAdded(item="c")]
    assert store.load("Cleanup", "r1", after_version=3) == []
    assert store.load("Cleanup", "never-written") == []


def test_version_and_stream_keys_per_category(store: ProcessStore) -> None:
    store.append("Cleanup", "r2", [added("a")], expected_version=0)
    store.append("Cleanup", "r1", [added("a"), added("b")], expected_version=0)
    store.append("Billing", "r1", [added("a")], expected_version=0)

    assert store.version("Cleanup", "r1") == 2
    assert store.version("Billing", "r1") == 1
    assert store.version("Cleanup", "unknown") == 0
    assert store.stream_keys("Cleanup") == ["r1", "r2"]
    assert store.stream_keys("Billing") == ["r1"]
    assert store.stream_keys("Nothing") == []
    # Same key, other category: a different stream.
    assert [e.version for e in store.load("Billing", "r1")] == [1]


def test_stale_expected_version_is_a_conflict_and_writes_nothing(store: ProcessStore) -> None:
    store.append("Cleanup", "r1", [added("a")], expected_version=0)

    for stale in (0, 2, 7):
        with pytest.raises(VersionConflict) as raised:
            store.append("Cleanup", "r1", [added("late")], expected_version=stale)
        assert (raised.value.expected_version, raised.value.actual_version) == (stale, 1)

    assert [e.event for e in store.load("Cleanup", "r1")] == [ItemAdded(item="a")]
    assert store.version("Cleanup", "r1") == 1


def test_two_creators_of_a_new_stream_exactly_one_wins(open_same_store: OpenStore) -> None:
    rounds = 10
    for n in range(rounds):
        key = f"new-{n}"
        contenders = [(open_same_store(), added(f"{side}-{n}")) for side in ("left", "right")]

        outcomes = run_together(
            [
                lambda s=s, e=e, k=key: s.append("Cleanup", k, [e], expected_version=0)
                for s, e in contenders
            ]
        )

        winners = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, list)]
        losers = [o for o in outcomes if isinstance(o, VersionConflict)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        [stored] = contenders[0][0].load("Cleanup", key)
        assert stored.event_id == contenders[winners[0]][1].event_id


def test_a_duplicate_event_id_is_rejected_whole_and_never_stored_twice(
    store: ProcessStore,
) -> None:
    original = added("a")
    store.append("Cleanup", "r1", [original], expected_version=0)
    again = NewEvent(ItemAdded(item="a, delivered again"), original.event_id)

    with pytest.raises(DuplicateEventId) as same_stream:
        store.append("Cleanup", "r1", [added("b"), again], expected_version=1)
    with pytest.raises(DuplicateEventId) as other_stream:
        store.append("Cleanup", "r2", [again], expected_version=0)

    assert same_stream.value.event_ids == (original.event_id,)
    assert other_stream.value.event_ids == (original.event_id,)
    # Rejected whole: not even the fresh event of the same batch was kept.
    assert [e.event_id for e in store.load("Cleanup", "r1")] == [original.event_id]
    assert store.load("Cleanup", "r2") == []
    assert store.stream_keys("Cleanup") == ["r1"]


def test_the_same_event_appended_concurrently_is_stored_once(open_same_store: OpenStore) -> None:
    """Eight deliveries of one event race: to one new stream, and to eight streams."""
    event_id = uuid.uuid4()
    stores = [open_same_store() for _ in range(8)]

    one_stream = run_together(
        [
            lambda s=s: s.append("Cleanup", "same", [NewEvent(ItemAdded(item="x"), event_id)], 0)
            for s in stores
        ]
    )
    other_id = uuid.uuid4()
    many_streams = run_together(
        [
            lambda s=s, n=n: s.append(
                "Cleanup", f"own-{n}", [NewEvent(ItemAdded(item="y"), other_id)], 0
            )
            for n, s in enumerate(stores)
        ]
    )

    assert sum(isinstance(o, list) for o in one_stream) == 1
    assert all(isinstance(o, (list, VersionConflict)) for o in one_stream), one_stream
    assert sum(isinstance(o, list) for o in many_streams) == 1
    assert all(isinstance(o, (list, DuplicateEventId)) for o in many_streams), many_streams
    reader = stores[0]
    recorded = [
        e.event_id for key in reader.stream_keys("Cleanup") for e in reader.load("Cleanup", key)
    ]
    assert sorted(recorded) == sorted([event_id, other_id])


def test_ids_repeated_within_one_append_are_refused(store: ProcessStore) -> None:
    twice = added("a")
    with pytest.raises(ValueError, match="twice"):
        store.append("Cleanup", "r1", [twice, twice], expected_version=0)
    assert store.load("Cleanup", "r1") == []


@pytest.mark.parametrize(
    ("category", "key"),
    [("", "k"), ("Cleanup", ""), ("Clean-up", "k"), ("Cleanup", "k" * 256), ("Cleanup", "k\x00")],
)
def test_invalid_stream_names_are_refused(store: ProcessStore, category: str, key: str) -> None:
    with pytest.raises(ValueError):
        store.append(category, key, [added("a")], expected_version=0)


def test_an_event_holding_a_nul_character_is_refused_on_every_backend(
    store: ProcessStore,
) -> None:
    # PostgreSQL's JSONB cannot hold U+0000: refused alike everywhere, nothing written.
    with pytest.raises(ValueError, match="ItemAdded contains a NUL character"):
        store.append("Cleanup", "r1", [added("a"), added("b\x00")], expected_version=0)
    assert store.load("Cleanup", "r1") == []


def test_naive_timestamps_are_refused(store: ProcessStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.append("Cleanup", "r1", [added("a")], 0, now=T0.replace(tzinfo=None))


@pytest.mark.parametrize(
    "url", ["redis://localhost", "sqlite:///:memory:", "sqlite://", "memory://named"]
)
def test_unsupported_urls_are_refused_with_the_supported_list(url: str) -> None:
    with pytest.raises(ValueError, match=r"memory://|file path"):
        open_store(url)


@pytest.mark.postgres
def test_a_lost_connection_is_transient_and_the_next_append_reconnects(postgres_url: str) -> None:
    victim = make_url(postgres_url).update_query_dict({"application_name": "pmc_victim"})
    store = open_store(victim.render_as_string(hide_password=False))
    store.append("Cleanup", "r1", [added("a")], 0)
    admin = create_engine(postgres_url)
    with admin.begin() as conn:  # the server drops the store's pooled connection
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'pmc_victim'"
            )
        )
    admin.dispose()

    with pytest.raises(OperationalError) as lost:
        store.append("Cleanup", "r1", [added("b")], 1)
    store.append("Cleanup", "r1", [added("c")], 1)

    assert transient(lost.value)
    assert [s.event for s in store.load("Cleanup", "r1")] == [
        ItemAdded(item="a"),
        ItemAdded(item="c"),
    ]
    store.close()
