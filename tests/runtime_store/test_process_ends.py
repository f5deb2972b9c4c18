"""Another service reacts to a process's end through event-sourcery's outbox, at least once.

A store opened with ``outbox_attempts`` puts every event it records into
event-sourcery's outbox in the same transaction (docs/runtime.md, "asyncio
services"). A consumer runs ``outbox.run(publisher)`` on event-sourcery's own
backend, keeps the ends (``ProcessCompleted``, ``ProcessFailed``,
``ProcessCancelled``: the ``Process*Base`` classes of ``pmc.runtime``) and
commits its session once it has acted: an entry it saw and did not commit
is published again, so a consumer that crashes before acknowledging sees
the end again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from event_sourcery.event import Recorded
from event_sourcery_sqlalchemy import SQLAlchemyBackend
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from pmc.runtime import ProcessCancelledBase, ProcessCompletedBase, ProcessFailedBase
from pmc.runtime.aio import AsyncProcessManager, AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from tests.runtime.support import compiled, definition, seed
from tests.runtime.test_aio_worker import AsyncRebaseTasks, succeed, until_ended

ENDS = """
process RtEnds {
    key case_id
    event Opened { case_id: str }
    event Solved { case_id: str }
    event Broke { case_id: str }
    event Dropped { case_id: str }
    machine Case {
        states New, Open, Solved, Broken
        initial New
        final Solved, Broken
        transition open: New -> Open on Opened
        transition solve: Open -> Solved on Solved
        transition break_down: Open -> Broken on Broke
    }
    start on Opened
    complete when all Case final
    fail when any Case in Broken
    cancel on Dropped
}
"""

END_TYPES = (ProcessCompletedBase, ProcessFailedBase, ProcessCancelledBase)


@pytest.fixture
def consumer_engine(sql_url: str) -> Iterator[Engine]:
    engine = create_engine(sql_url)
    yield engine
    engine.dispose()


def consume_ends(engine: Engine, *, acknowledge: bool) -> list[Recorded]:
    """One run of a consumer: the ends published to it; committed only if ``acknowledge``.

    Every event of the process goes through the outbox; the consumer keeps
    the ends and acknowledges the rest along with them.
    """
    ends: list[Recorded] = []

    def publish(recorded: Recorded) -> None:
        if isinstance(recorded.wrapped_event.event, END_TYPES):
            ends.append(recorded)  # the service acts here: idempotently, by the event's uuid

    with Session(engine) as session:
        SQLAlchemyBackend().configure(session).with_outbox().outbox.run(publish)
        if acknowledge:
            session.commit()
        # else: the consumer crashed before committing; nothing was acknowledged
    return ends


def test_a_consumer_sees_every_end_as_recorded_and_again_after_a_crash(
    sql_url: str, consumer_engine: Engine
) -> None:
    m = compiled(ENDS)
    store = open_store(sql_url, outbox_attempts=3)
    manager = ProcessManager(m.DEFINITION, store)
    for case, last in (("a", m.Solved), ("b", m.Broke), ("c", m.Dropped)):
        manager.handle(m.Opened(case_id=case))
        manager.handle(last(case_id=case))
    recorded_ends = [
        (case, stored.event_id, stored.event)
        for case in ("a", "b", "c")
        for stored in manager.history(case)
        if isinstance(stored.event, END_TYPES)
    ]
    store.close()

    crashed = consume_ends(consumer_engine, acknowledge=False)
    again = consume_ends(consumer_engine, acknowledge=True)
    after = consume_ends(consumer_engine, acknowledge=True)

    assert [type(event).__name__ for _, _, event in recorded_ends] == [
        "ProcessCompleted",
        "ProcessFailed",
        "ProcessCancelled",
    ]
    seen = [(r.stream_id.name, r.wrapped_event.uuid, r.wrapped_event.event) for r in crashed]
    assert sorted(seen, key=str) == sorted(recorded_ends, key=str)
    assert [(r.stream_id.name, r.wrapped_event.uuid) for r in again] == [
        (r.stream_id.name, r.wrapped_event.uuid) for r in crashed
    ]
    assert after == []


def test_an_end_recorded_by_an_async_worker_reaches_the_outbox_once(
    sql_url: str, consumer_engine: Engine
) -> None:
    """Also the ends a worker records, and a redelivered event's only once."""
    m = seed()
    store = open_store(sql_url, outbox_attempts=3)

    async def run() -> None:
        manager = ProcessManager(definition(m), store, with_worker=True)
        async with AsyncProcessManager(manager) as aio:
            event = m.RebaseFailed(rebase_id="r1", instances=["A", "B"])
            await aio.handle(event, "d1")
            await aio.handle(event, "d1")  # a redelivery: deduplicated
            async with AsyncWorker(definition(m), store, AsyncRebaseTasks(succeed)):
                await until_ended(aio, "r1")

    asyncio.run(run())
    store.close()
    ends = consume_ends(consumer_engine, acknowledge=True)

    assert [type(r.wrapped_event.event).__name__ for r in ends] == ["ProcessCompleted"]
