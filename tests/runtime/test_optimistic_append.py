"""Deciding on the cached fold: no read before the write, and still exact when others write.

A manager that has seen a stream decides on what it cached and appends at
that version. Another writer moving the stream makes that append fail its
version check; the manager then reads the new events and decides again, so
every answer is the one the stream as it is would give.
"""

from __future__ import annotations

import uuid

from pmc.runtime.cache import Folded
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.state import ProcessState
from tests.conftest import OpenStore
from tests.runtime.counting import counting
from tests.runtime.support import definition, names, tally


def test_a_cached_stream_is_appended_to_without_reading_it_first(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    store, calls = counting(open_same_store())
    manager = ProcessManager(definition(m), store)

    manager.handle(m.Tick(tally_id="t1", n=1))
    first = calls.take()
    handled = manager.handle(m.Tick(tally_id="t1", n=2))

    assert first == {"load": 1, "append": 1}  # never seen: read, then written
    assert calls.take() == {"append": 1}
    assert handled.status is HandleStatus.RECORDED
    assert handled.version == 4


def test_a_delivery_another_manager_recorded_meanwhile_is_deduplicated(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    store, calls = counting(open_same_store())
    manager = ProcessManager(definition(m), store)
    # Another process: its own store object and cache.
    other = ProcessManager(definition(m), open_same_store())
    manager.handle(m.Tick(tally_id="t1", n=1), "first")
    tick = m.Tick(tally_id="t1", n=2)

    by_other = other.handle(tick, "second")
    calls.take()
    again = manager.handle(tick, "second")

    assert by_other.status is HandleStatus.RECORDED
    assert again.status is HandleStatus.DEDUPLICATED
    # The append on the cached fold failed its version check; the read found the id.
    assert calls.take() == {"append": 1, "load": 1}
    assert again.state == other.state("t1")
    history = manager.history("t1")
    assert [stored.event_id for stored in history].count(by_other.event_id) == 1
    assert names(history) == ["Tick", "TransitionPlanned"] * 2


def test_an_event_decided_on_a_stale_cache_is_decided_again_on_the_stream(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    manager = ProcessManager(definition(m), open_same_store())
    other = ProcessManager(definition(m), open_same_store())
    manager.handle(m.Tick(tally_id="t1", n=1))
    other.handle(m.Close(tally_id="t1"))
    closed = manager.history("t1")

    late = manager.handle(m.Tick(tally_id="t1", n=2))

    # The cache still says Open; the stream says the tally ended.
    assert late.status is HandleStatus.AFTER_END
    assert late.state == other.state("t1")
    assert manager.history("t1") == closed


def test_a_refusal_on_a_stale_cache_is_checked_on_the_stream(open_same_store: OpenStore) -> None:
    m = tally()
    store, calls = counting(open_same_store())
    manager = ProcessManager(definition(m), store)
    other = ProcessManager(definition(m), open_same_store())
    manager.handle(m.Tick(tally_id="t1", n=1))
    other.handle(m.Tick(tally_id="t1", n=2))
    calls.take()

    # True on the stream (at version 4), false on the cached fold (version 2).
    def at_four(state: ProcessState) -> bool:
        return state.version == 4

    recorded = manager.record("t1", m.Tick(tally_id="t1", n=3), uuid.uuid4(), at_four)

    assert recorded.status is HandleStatus.RECORDED
    assert calls.take() == {"load": 1, "append": 1}
    assert recorded.version == 6


def test_a_duplicate_on_the_cached_fold_is_answered_without_the_store(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    store, calls = counting(open_same_store())
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Tick(tally_id="t1", n=1), "once")
    calls.take()

    again = manager.handle(m.Tick(tally_id="t1", n=1), "once")

    assert again.status is HandleStatus.DEDUPLICATED
    assert calls.take() == {}


def test_state_reads_the_stream_whatever_is_cached(open_same_store: OpenStore) -> None:
    m = tally()
    manager = ProcessManager(definition(m), open_same_store())
    other = ProcessManager(definition(m), open_same_store())
    manager.handle(m.Tick(tally_id="t1", n=1))

    other.handle(m.Close(tally_id="t1"))

    assert manager.state("t1").ended
    assert manager.state("t1") == manager.replay("t1")


# ---- the inbox as streams grow ---------------------------------------------------------


def test_every_id_of_a_long_stream_is_deduplicated(open_same_store: OpenStore) -> None:
    m = tally()
    manager = ProcessManager(definition(m), open_same_store())
    ticks = [(m.Tick(tally_id="t1", n=n), f"delivery-{n}") for n in range(300)]
    for tick, delivery in ticks:
        manager.handle(tick, delivery)
    history = manager.history("t1")

    again = [manager.handle(tick, delivery).status for tick, delivery in ticks]

    assert set(again) == {HandleStatus.DEDUPLICATED}
    assert manager.history("t1") == history
    assert len(history) == 600


def test_a_fold_sees_only_the_ids_recorded_up_to_its_version() -> None:
    m = tally()
    d = definition(m)
    start = Folded(d.initial_state())
    first, second = uuid.uuid4(), uuid.uuid4()
    tick = m.Tick(tally_id="t1", n=1)

    one = start.with_events(d.evolve(start.state, tick), [(first, tick)])
    two = one.with_events(d.evolve(one.state, tick), [(second, tick)])
    planned = one.with_planned(two.state, [(second, tick)])

    # Folds share what they know of the stream, each up to its own version.
    assert first not in start.event_ids
    assert first in one.event_ids and second not in one.event_ids
    assert first in two.event_ids and second in two.event_ids
    # A planned event is seen by the fold planning it, not by the one it was planned on.
    assert second in planned.event_ids
    assert (one.state.version, two.state.version) == (1, 2)
