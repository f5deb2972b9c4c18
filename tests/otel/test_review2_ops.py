"""Second review (ops): an ``AsyncWorker`` traced by pmc.otel keeps store reads off its loop.

pmc.runtime.aio promises that the store's I/O runs in thread pools, so the
event loop keeps serving while a transaction waits. The attempt span's link
to its planning span is read from the stream when the handler starts
(``AttemptScope.running()``); for an ``async def`` handler that is entered
on the event loop itself.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pmc.runtime import TaskContext
from pmc.runtime.aio import AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore, StoredEvent
from tests.otel.conftest import Exported
from tests.runtime.support import Passing, definition, seed


class ReadsOnLoop(Passing):
    """A store noting each ``load`` made on the thread running the event loop."""

    def __init__(self, store: ProcessStore) -> None:
        super().__init__(store)
        self.loop_thread: int | None = None
        self.loads_on_loop: list[str] = []

    def load(self, category: str, key: str, *args: Any, **kwargs: Any) -> list[StoredEvent]:
        if threading.get_ident() == self.loop_thread:
            self.loads_on_loop.append(key)
        return list(self._store.load(category, key, *args, **kwargs))


class AsyncClose:
    async def close_instance(self, task: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0)


def test_a_traced_async_attempt_reads_no_stream_on_the_event_loop(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    watched = ReadsOnLoop(store)
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    async def run() -> None:
        watched.loop_thread = threading.get_ident()
        worker = AsyncWorker(definition(m), watched, AsyncClose(), worker_id="w1")  # type: ignore[arg-type]
        try:
            await worker.drain()
        finally:
            worker.close()

    asyncio.run(run())

    assert len(otel.finished("pmc.task.attempt")) == 1
    assert watched.loads_on_loop == []
