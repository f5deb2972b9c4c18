"""The trace context recorded with the events of a span, and the attempt's link back to it.

Recorded as event-sourcery's own OpenTelemetry enricher records it (the
``opentelemetry`` component of the event's context), so its helpers and
pmc read each other's.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from event_sourcery import StreamId
from event_sourcery.event import WrappedEvent
from event_sourcery_otel import OpenTelemetryContextEnricher, get_parent_context
from event_sourcery_sqlalchemy import SQLAlchemyBackend
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from pmc.runtime import TaskContext, telemetry
from pmc.runtime.aio import AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.state import TaskInFlight
from pmc.runtime.stores import NewEvent, ProcessStore, StoredEvent
from pmc.runtime.stores._events import event_rows, new_serde, wrap
from pmc.runtime.worker import Worker
from tests.otel.conftest import Exported
from tests.runtime.support import Passing, RebaseTasks, definition, seed
from tests.runtime_store.events import T0, ItemAdded

NAIVE_T0 = T0.replace(tzinfo=None)  # event-sourcery's created_at: naive UTC


def traceparent(span: ReadableSpan) -> str:
    """The W3C ``traceparent`` of ``span``."""
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def test_the_events_a_handle_records_carry_its_trace_context(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    (handle,) = otel.finished("pmc.handle")
    history = manager.history("r1")
    assert [type(e.event).__name__ for e in history] == ["RebaseFailed", "TransitionPlanned"]
    assert [e.trace for e in history] == [{"traceparent": traceparent(handle)}] * 2


def test_an_attempt_links_to_the_span_that_planned_its_task(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    Worker(definition(m), store, RebaseTasks()).drain()

    (handle,) = otel.finished("pmc.handle")
    (attempt,) = otel.finished("pmc.task.attempt")
    (link,) = attempt.links
    assert (link.context.trace_id, link.context.span_id) == (
        handle.context.trace_id,
        handle.context.span_id,
    )
    assert dict(link.attributes or {}) == {"pmc.link": "planned_by"}
    # A trace of its own: the worker ran it later, not inside the handle.
    assert attempt.parent is None and attempt.context.trace_id != handle.context.trace_id


class RecordsReads(Passing):
    """A store that records from which version each of its stream reads starts."""

    def __init__(self, store: ProcessStore) -> None:
        super().__init__(store)
        self.read_after: list[int] = []

    def load(self, category: str, key: str, after_version: int = 0) -> object:
        self.read_after.append(after_version)
        return self._store.load(category, key, after_version)


def test_an_attempt_reads_its_stream_from_the_planning_event_on(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(
        m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"])
    )
    reads = RecordsReads(store)

    Worker(definition(m), reads, RebaseTasks()).drain()  # type: ignore[arg-type]

    # Each linked attempt read the tail from its TransitionPlanned (versions
    # 2, 3 and 4, after the RebaseFailed), never the whole stream.
    assert len(otel.finished("pmc.task.attempt")) >= 3
    assert all(link for span in otel.finished("pmc.task.attempt") for link in span.links)
    assert reads.read_after and 0 not in reads.read_after


def test_a_task_planned_without_telemetry_starts_an_attempt_without_a_link(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    # Planned by a program that records no trace context (pmc before this, say).
    before = telemetry.install(None)
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    telemetry.install(before)

    Worker(definition(m), store, RebaseTasks()).drain()

    (attempt,) = otel.finished("pmc.task.attempt")
    assert attempt.links == ()
    assert (attempt.attributes or {})["pmc.task.outcome"] == "completed"


# The link is read from the stream when the handler starts (``AttemptScope.running()``),
# for an ``async def`` handler on the event loop itself: pmc.runtime.aio promises the
# store's I/O runs in thread pools, so the loop keeps serving while a transaction waits.


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


# ---- as event-sourcery records it ------------------------------------------------------------


CARRIER = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def test_pmc_writes_the_row_event_sourcerys_serde_writes_for_a_traced_event() -> None:
    serde = new_serde()
    stream = StreamId(name="r1", category="Cleanup")
    events = [NewEvent(ItemAdded(item="disk"), uuid.uuid4(), trace=CARRIER)]

    (row,) = event_rows(serde, stream, events, 0, T0)

    (raw,) = [serde.serialize(wrapped, stream) for wrapped in wrap(events, 0, T0)]
    assert (
        row["event_context"]
        == raw.context
        == {
            "correlation_id": None,
            "causation_id": None,
            "components": {"opentelemetry": {"values": CARRIER}},
        }
    )


@pytest.fixture
def session(store_url: str) -> Iterator[Session]:
    """A session of event-sourcery's own SQLAlchemy backend on the test's database."""
    if store_url == "memory://":
        pytest.skip("event-sourcery's SQLAlchemy backend needs a database")
    engine = create_engine(store_url)
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def test_event_sourcerys_otel_helpers_read_the_context_pmc_recorded(
    store: ProcessStore, session: Session, otel: Exported
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    stream = StreamId(name="r1", category=definition(m).category)
    loaded = SQLAlchemyBackend().configure(session).event_store.load_stream(stream)

    (handle,) = otel.finished("pmc.handle")
    parents = [trace.get_current_span(get_parent_context(w)).get_span_context() for w in loaded]
    assert [(p.trace_id, p.span_id) for p in parents] == [
        (handle.context.trace_id, handle.context.span_id)
    ] * 2


def test_pmc_reads_the_context_event_sourcerys_own_enricher_recorded(
    store: ProcessStore, session: Session, otel: Exported
) -> None:
    store.init()  # the tables, which pmc makes on its first write
    events = (
        SQLAlchemyBackend()
        .configure(session)
        .with_context_enrichers(OpenTelemetryContextEnricher())
        .event_store
    )
    written = WrappedEvent(
        ItemAdded(item="disk"), version=1, uuid=uuid.uuid4(), created_at=NAIVE_T0
    )
    with otel.tracer_provider.get_tracer("an application").start_as_current_span("import"):
        events.append(
            written, stream_id=StreamId(name="r1", category="Cleanup"), expected_version=0
        )
        session.commit()

    (span,) = otel.finished("import")
    (read,) = store.load("Cleanup", "r1")
    assert read.event_id == written.uuid
    assert read.trace == {"traceparent": traceparent(span)}


def test_an_attempt_runs_unlinked_if_the_planning_event_cannot_be_read(otel: Exported) -> None:
    def unreadable() -> None:
        raise OSError("the store went away")

    task = TaskInFlight(uuid.uuid4(), "CloseInstance", "async", "Instance", "A", "close", "{}")

    scope = otel.installed.attempt("RtRebase", "r1", task, "w1", unreadable)
    with scope.running():  # where the planning event is read
        pass
    scope.abandoned(RuntimeError("stopped"))

    (attempt,) = otel.finished("pmc.task.attempt")
    assert attempt.links == ()
    assert (attempt.attributes or {})["pmc.task.outcome"] == "unrecorded"
