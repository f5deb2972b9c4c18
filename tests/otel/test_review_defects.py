"""Review of branch otel: failing tests that show defects (tests only, no fixes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pmc.otel import instrument, uninstrument
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from tests.otel.conftest import Exported
from tests.runtime.support import (
    Passing,
    RebaseTasks,
    definition,
    names,
    seed,
    wait_until,
)


class Faulty(SpanProcessor):
    """An application's span processor with a bug: it raises on the spans named ``name``."""

    def __init__(self, name: str, on: str) -> None:
        self.name, self.on = name, on

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.on == "start" and span.name == self.name:
            raise RuntimeError("a buggy span processor")

    def on_end(self, span: ReadableSpan) -> None:
        if self.on == "end" and span.name == self.name:
            raise RuntimeError("a buggy span processor")


@pytest.fixture
def faulty(request: pytest.FixtureRequest) -> Iterator[None]:
    provider = TracerProvider()
    provider.add_span_processor(Faulty(*request.param))
    instrument(provider, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    try:
        yield
    finally:
        uninstrument()


@pytest.mark.parametrize("faulty", [("pmc.handle", "end")], indirect=True)
def test_a_telemetry_error_after_the_append_does_not_fail_the_handle(
    store: ProcessStore, faulty: None
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    event = m.RebaseFailed(rebase_id="r1", instances=["A"])

    # The events are appended, then the span's end raises out of handle():
    # the caller sees a failure and delivers the event again.
    for _ in range(2):
        try:
            manager.handle(event)
            break
        except RuntimeError:
            continue

    assert names(manager.history("r1")).count("RebaseFailed") == 1


@pytest.mark.parametrize("faulty", [("pmc.task.attempt", "start")], indirect=True)
def test_a_telemetry_error_when_the_attempt_span_starts_does_not_stop_the_attempt(
    store: ProcessStore, faulty: None
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    tasks = RebaseTasks()

    Worker(definition(m), store, tasks).drain()

    # TaskStarted was recorded, then the span's start raised: the handler
    # never ran and the attempt is left to time out (a retry spent).
    assert tasks.calls.of("CloseInstance") == [("A", 1)]


@pytest.mark.parametrize("faulty", [("pmc.task.attempt", "end")], indirect=True)
def test_a_telemetry_error_at_the_attempts_end_does_not_undo_its_count(
    store: ProcessStore, faulty: None
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    worker = Worker(definition(m), store, RebaseTasks())

    worker.drain()

    # The outcome was recorded; the worker's stats must say so.
    assert "TaskCompleted" in names(ProcessManager(definition(m), store).history("r1"))
    assert worker.stats.completed == 1


class ClaimFails(Passing):
    """A store whose claims always fail (the database refuses them, say)."""

    def __init__(self, store: ProcessStore) -> None:
        super().__init__(store)
        self.claims = 0

    def claim_due(self, *args: object, **kwargs: object) -> object:
        self.claims += 1
        raise RuntimeError("permission denied for table pmc_work")

    def claim_and_append(self, *args: object, **kwargs: object) -> object:
        self.claims += 1
        raise RuntimeError("permission denied for table pmc_work")

    def wait_for_due(self, timeout: float, category: object = None) -> bool:
        return True

    def now(self) -> datetime:
        return self._store.now()


def test_healthz_is_not_ok_while_the_claim_loop_only_fails(store: ProcessStore) -> None:
    m = seed()
    failing = ClaimFails(store)
    worker = Worker(definition(m), failing, RebaseTasks(), idle_wait=0.01)  # type: ignore[arg-type]
    worker.start()
    try:
        wait_until(lambda: failing.claims >= 3)
        # The claim loop has claimed nothing since it started: /healthz says 200.
        assert not worker.healthy
    finally:
        worker.stop(1.0)


class CountingLoads(Passing):
    """A store that counts the events its ``load`` reads."""

    def __init__(self, store: ProcessStore) -> None:
        super().__init__(store)
        self.loaded = 0

    def load(self, *args: object, **kwargs: object) -> object:
        events = self._store.load(*args, **kwargs)  # type: ignore[arg-type]
        self.loaded += len(events)
        return events


def events_loaded_by_a_worker(store: ProcessStore, instances: int) -> int:
    m = seed()
    ProcessManager(definition(m), store).handle(
        m.RebaseFailed(rebase_id="r1", instances=[f"I{n}" for n in range(instances)])
    )
    counting = CountingLoads(store)
    Worker(definition(m), counting, RebaseTasks()).drain()  # type: ignore[arg-type]
    return counting.loaded


def test_metrics_alone_add_no_stream_reads_to_the_attempts(store: ProcessStore) -> None:
    # `pmc worker --metrics-port` without a tracer provider set up: metrics only,
    # every span a non-recording one, so no link is ever made.
    instrument(meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
    try:
        loaded = events_loaded_by_a_worker(store, 40)
    finally:
        uninstrument()

    # Without telemetry the worker reads no stream whole (its cache has them);
    # with it, each attempt reads its whole stream: 40 attempts x ~100 events.
    assert loaded == 0


def test_instrumenting_again_keeps_reporting_the_pending_work(store: ProcessStore) -> None:
    m = seed()
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    instrument(meter_provider=meters)
    uninstrument()
    again = instrument(meter_provider=meters)
    try:
        again.watch_pending(store, ["RtRebase"])
        ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
        data = reader.get_metrics_data()
    finally:
        uninstrument()

    assert data is not None
    reported = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    # The gauge's callback is the first instrument()'s, which watches nothing.
    assert "pmc.work.pending" in reported


class BrokenPropagator(TextMapPropagator):
    """An application's propagator with a bug: injecting raises."""

    def extract(self, carrier: Any, context: Context | None = None, getter: Any = None) -> Context:
        return context or Context()

    def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
        raise RuntimeError("a buggy propagator")

    @property
    def fields(self) -> set[str]:
        return set()


@pytest.fixture
def broken_propagator(otel: Exported) -> Iterator[None]:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(BrokenPropagator())
    try:
        yield
    finally:
        propagate.set_global_textmap(before)


def test_a_telemetry_error_does_not_stop_the_worker_recording(
    store: ProcessStore, broken_propagator: None
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    # Planned before the propagator broke (say) ...
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(TraceContextTextMapPropagator())
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    propagate.set_global_textmap(before)
    worker = Worker(definition(m), store, RebaseTasks())

    worker.drain()

    # Every write asks carrier(): not even TaskStarted is recorded, the task
    # never runs, and every handle() raises while the propagator is broken.
    assert "TaskCompleted" in names(manager.history("r1"))
