"""Review: AsyncProcessManager's pool threads share one manager and store at once."""

from __future__ import annotations

import asyncio

from pmc.runtime.aio import AsyncProcessManager
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.results import HandleResult
from tests.conftest import OpenStore
from tests.runtime.support import definition, names, tally


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
