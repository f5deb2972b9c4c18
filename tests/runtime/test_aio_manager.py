"""``AsyncProcessManager``: ``ProcessManager``'s answers, awaited, its store I/O in a thread pool.

It delegates to a ``ProcessManager``, so each test shows the same outcome
the synchronous manager gives: the inbox, the version check decided again
on the stream, group commit, and the event loop free while the store works.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from event_sourcery import Event

from pmc.runtime.aio import AsyncProcessManager
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.results import HandleResult
from tests.conftest import OpenStore
from tests.runtime.counting import counting
from tests.runtime.support import RebaseTasks, definition, names, seed, tally


def test_a_delivery_handled_twice_is_recorded_once(open_same_store: OpenStore) -> None:
    m = tally()

    async def deliver_twice() -> list[HandleResult]:
        async with AsyncProcessManager(ProcessManager(definition(m), open_same_store())) as aio:
            tick = m.Tick(tally_id="t1", n=1)
            return [await aio.handle(tick, "delivery-1"), await aio.handle(tick, "delivery-1")]

    first, again = asyncio.run(deliver_twice())

    assert first.status is HandleStatus.RECORDED
    assert again.status is HandleStatus.DEDUPLICATED
    assert again.event_id == first.event_id
    history = ProcessManager(definition(m), open_same_store()).history("t1")
    assert names(history) == ["Tick", "TransitionPlanned"]


def test_an_event_decided_on_a_stale_cache_is_decided_again_on_the_stream(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    store, calls = counting(open_same_store())
    other = ProcessManager(definition(m), open_same_store())

    async def tick_close_tick() -> HandleResult:
        async with AsyncProcessManager(ProcessManager(definition(m), store)) as aio:
            await aio.handle(m.Tick(tally_id="t1", n=1))
            other.handle(m.Close(tally_id="t1"))  # another process moves the stream
            calls.take()
            return await aio.handle(m.Tick(tally_id="t1", n=2))

    late = asyncio.run(tick_close_tick())

    # The append on the cached fold failed its version check; the read found the end.
    assert calls.take() == {"append": 1, "load": 1}
    assert late.status is HandleStatus.AFTER_END
    assert late.state == other.state("t1")


def test_handle_many_records_in_one_write_and_answers_in_order(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    store, calls = counting(open_same_store())

    async def deliver() -> list[HandleResult]:
        async with AsyncProcessManager(ProcessManager(definition(m), store)) as aio:
            return await aio.handle_many(
                [(m.Tick(tally_id=key, n=n), f"{key}-{n}") for n in (1, 2) for key in ("a", "b")]
            )

    results = asyncio.run(deliver())

    assert [(r.key, r.status, r.version) for r in results] == [
        ("a", HandleStatus.RECORDED, 2),
        ("b", HandleStatus.RECORDED, 2),
        ("a", HandleStatus.RECORDED, 4),
        ("b", HandleStatus.RECORDED, 4),
    ]
    assert calls.take()["append_many"] == 1


def test_the_reads_are_the_managers(open_same_store: OpenStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), open_same_store(), RebaseTasks())
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    async def read() -> tuple[object, ...]:
        async with AsyncProcessManager(manager) as aio:
            return (await aio.state("r1"), await aio.replay("r1"), await aio.history("r1"))

    state, replayed, history = asyncio.run(read())

    assert state == manager.state("r1") == replayed
    assert history == manager.history("r1")


class ThreadNotingManager(ProcessManager):
    """A manager noting the thread each ``handle`` runs in."""

    threads: list[threading.Thread]

    def handle(self, event: Event, event_id: str | uuid.UUID | None = None) -> HandleResult:
        self.threads.append(threading.current_thread())
        return super().handle(event, event_id)


def test_the_store_is_called_off_the_event_loop(open_same_store: OpenStore) -> None:
    m = tally()
    manager = ThreadNotingManager(definition(m), open_same_store())
    manager.threads = []

    async def deliver() -> threading.Thread:
        async with AsyncProcessManager(manager, threads=1) as aio:
            await aio.handle(m.Tick(tally_id="t1", n=1))
            return threading.current_thread()

    loop_thread = asyncio.run(deliver())

    assert len(manager.threads) == 1
    assert manager.threads[0] is not loop_thread
    assert manager.threads[0].name.startswith("pmc-RtTally")


def test_a_closed_manager_takes_no_more_calls(open_same_store: OpenStore) -> None:
    m = tally()
    aio = AsyncProcessManager(ProcessManager(definition(m), open_same_store()))
    aio.close()

    with pytest.raises(RuntimeError, match="shutdown"):
        asyncio.run(aio.handle(m.Tick(tally_id="t1", n=1)))


def test_a_pool_without_threads_is_refused(open_same_store: OpenStore) -> None:
    manager = ProcessManager(definition(tally()), open_same_store())

    with pytest.raises(ValueError, match="threads must be >= 1"):
        AsyncProcessManager(manager, threads=0)


def test_concurrent_handles_on_one_stream_from_the_pool_threads_record_each_delivery_once(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    deliveries = [(n % 20 + 1, f"delivery-{n % 20}") for n in range(60)]  # each id thrice

    async def deliver_all() -> list[HandleResult]:
        manager = ProcessManager(definition(m), open_same_store())
        async with AsyncProcessManager(manager, threads=4) as aio:
            return list(
                await asyncio.gather(
                    *(aio.handle(m.Tick(tally_id="t1", n=n), d) for n, d in deliveries)
                )
            )

    results = asyncio.run(deliver_all())

    statuses = [r.status for r in results]
    assert statuses.count(HandleStatus.RECORDED) == 20, statuses
    assert statuses.count(HandleStatus.DEDUPLICATED) == 40
    history = ProcessManager(definition(m), open_same_store()).history("t1")
    assert names(history).count("Tick") == 20
