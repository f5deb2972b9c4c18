"""Review: "every event pmc records is then also put into event-sourcery's outbox"
(docs/runtime.md) — also the ends a worker records, and a redelivery only once."""

from __future__ import annotations

import asyncio

from sqlalchemy import create_engine

from pmc.runtime.aio import AsyncProcessManager, AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from tests.runtime.support import definition, seed
from tests.runtime.test_aio_worker import AsyncRebaseTasks, succeed, until_ended
from tests.runtime_store.test_process_ends import consume_ends


def test_an_end_recorded_by_an_async_worker_reaches_the_outbox_once(sql_url: str) -> None:
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
    engine = create_engine(sql_url)
    try:
        ends = consume_ends(engine, acknowledge=True)
    finally:
        engine.dispose()

    assert [type(r.wrapped_event.event).__name__ for r in ends] == ["ProcessCompleted"]
