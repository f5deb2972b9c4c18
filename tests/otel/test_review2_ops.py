"""Second review (ops): an ``AsyncWorker`` traced by pmc.otel keeps store reads off its loop.

pmc.runtime.aio promises that the store's I/O runs in thread pools, so the
event loop keeps serving while a transaction waits. The attempt span's link
to its planning span is read from the stream when the handler starts
(``AttemptScope.running()``); for an ``async def`` handler that is entered
on the event loop itself.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

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
        worker = AsyncWorker(definition(m), watched, AsyncClose(), worker_id="w1")
        try:
            await worker.drain()
        finally:
            worker.close()

    asyncio.run(run())

    assert len(otel.finished("pmc.task.attempt")) == 1
    assert watched.loads_on_loop == []


class SlowOnceReturned(Passing):
    """A store whose writes take half a second once ``returned`` is set."""

    def __init__(self, store: ProcessStore, returned: threading.Event) -> None:
        super().__init__(store)
        self.returned = returned

    def append_many(self, requests: Any) -> Any:
        if self.returned.is_set():
            time.sleep(0.5)
        return self._store.append_many(requests)


def test_an_outcome_recorded_while_stop_cancels_ends_its_span_once(
    store: ProcessStore, otel: Exported, caplog: pytest.LogCaptureFixture
) -> None:
    m = seed()
    returned = threading.Event()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    class ReturnsThenRecordsSlowly:
        async def close_instance(self, task: Any, ctx: TaskContext) -> None:
            returned.set()

    async def run() -> None:
        slow = SlowOnceReturned(store, returned)
        worker = AsyncWorker(definition(m), slow, ReturnsThenRecordsSlowly(), worker_id="w1")
        await worker.start()
        while not returned.is_set():
            await asyncio.sleep(0.01)
        await worker.stop(grace=0.1)  # cancels the job while its outcome is written

    with caplog.at_level(logging.WARNING, logger="opentelemetry"):
        asyncio.run(run())

    (span,) = otel.finished("pmc.task.attempt")
    assert (span.attributes or {})["pmc.task.outcome"] == "completed"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []
