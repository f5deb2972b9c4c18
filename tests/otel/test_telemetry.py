"""The runtime's spans and metrics, read back from OpenTelemetry's in-memory exporters.

Names, attributes and units are the ones docs/operations.md ("Metrics and
traces") lists.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
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
from pmc.runtime import TaskContext
from pmc.runtime.aio import AsyncWorker
from pmc.runtime.attempts import started_event, started_id
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from tests.otel.conftest import Exported
from tests.runtime.support import (
    FakeClock,
    OrderTasks,
    Passing,
    RebaseTasks,
    definition,
    fail_first,
    names,
    of_type,
    order,
    seed,
    wait_until,
)

CLOSE = (("pmc.process", "RtRebase"), ("pmc.task", "CloseInstance"))


def test_handle_has_a_span_with_what_became_of_the_event(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    result = manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    (span,) = otel.finished("pmc.handle")
    assert dict(span.attributes or {}) == {
        "pmc.process": "RtRebase",
        "pmc.key": "r1",
        "pmc.event": "RebaseFailed",
        "pmc.event.id": str(result.event_id),
        "pmc.handle.status": "recorded",
        "pmc.version": result.version,
    }
    assert otel.points("pmc.handle.duration") == {
        (("pmc.handle.status", "recorded"), ("pmc.process", "RtRebase")): 1
    }


def test_an_attempt_has_a_span_with_its_task_and_outcome(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(), worker_id="w1")
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.drain()

    (span,) = otel.finished("pmc.task.attempt")
    (started,) = of_type(manager.history("r1"), "TaskStarted")
    assert dict(span.attributes or {}) == {
        "pmc.process": "RtRebase",
        "pmc.key": "r1",
        "pmc.task": "CloseInstance",
        "pmc.task.id": str(started.task_id),
        "pmc.task.attempt": 1,
        "pmc.machine": "A",
        "pmc.worker": "w1",
        "pmc.task.outcome": "completed",
        "pmc.task.retry_scheduled": False,
    }
    assert span.status.is_ok


def test_a_sync_task_run_inline_is_a_child_of_the_handle_span(
    store: ProcessStore, otel: Exported
) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())

    manager.handle(m.Placed(order_id="o1", items=["book"]))

    (handle,) = otel.finished("pmc.handle")
    (reserve,) = otel.finished("pmc.task.attempt")
    assert reserve.attributes and reserve.attributes["pmc.task"] == "Reserve"
    assert reserve.parent is not None and reserve.parent.span_id == handle.context.span_id
    assert reserve.context.trace_id == handle.context.trace_id


def test_the_handlers_own_spans_are_children_of_its_attempt(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    tracer = otel.tracer_provider.get_tracer("the application")

    class TracedTasks:
        def close_instance(self, task: Any, ctx: TaskContext) -> None:
            with tracer.start_as_current_span("close the instance"):
                pass

    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    Worker(definition(m), store, TracedTasks()).drain()

    (attempt,) = otel.finished("pmc.task.attempt")
    (own,) = otel.finished("close the instance")
    assert own.parent is not None and own.parent.span_id == attempt.context.span_id


def test_a_failed_attempt_and_its_retry_are_counted(
    store: ProcessStore, clock: FakeClock, otel: Exported
) -> None:
    m = seed()  # CloseInstance: `retry 3 backoff 2s max 1m`
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(fail_first(1)))
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.drain()
    clock.advance(seconds=5)  # the retry was due 3 s before the worker claimed it
    worker.drain()

    assert otel.points("pmc.task.attempts") == {CLOSE: 2}
    assert otel.points("pmc.task.outcomes") == {
        (*CLOSE, ("pmc.task.outcome", "completed")): 1,
        (*CLOSE, ("pmc.task.outcome", "failed")): 1,
    }
    assert otel.points("pmc.task.retries") == {CLOSE: 1}
    assert otel.points("pmc.task.timeouts") == {}
    failed, completed = sorted(
        otel.finished("pmc.task.attempt"), key=lambda s: (s.attributes or {})["pmc.task.attempt"]
    )
    assert not failed.status.is_ok and failed.status.description == "A: attempt 1 refused"
    assert (failed.attributes or {})["pmc.task.retry_scheduled"] is True
    assert (completed.attributes or {})["pmc.task.outcome"] == "completed"


def test_due_work_lag_is_how_late_a_row_was_claimed(
    store: ProcessStore, clock: FakeClock, otel: Exported
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(fail_first(1)))
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    worker.drain()  # attempt 1 fails; the retry is due in 2 s

    clock.advance(seconds=5)
    worker.drain()

    lags = otel_histogram(otel, "pmc.work.lag")
    assert [point.count for point in lags] == [2]  # the first attempt, then the retry
    assert lags[0].sum == 3.0  # the first was claimed when due, the retry 3 s late


def otel_histogram(otel: Exported, metric: str) -> list[Any]:
    data = otel.metrics.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for each in scope.metrics
        if each.name == metric
        for point in each.data.data_points
    ]


def test_a_time_out_is_counted_with_the_retry_it_schedules(
    store: ProcessStore, clock: FakeClock, otel: Exported
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    # A worker starts attempt 1 and dies: its lease (30 s) expires.
    task = next(iter(manager.state("r1").tasks.values()))
    ghost = started_event(definition(m), task, "ghost", clock() + timedelta(seconds=30))
    manager.record("r1", ghost, started_id(task.task_id, 1))
    worker = Worker(definition(m), store, RebaseTasks())

    clock.advance(seconds=30)
    worker.drain()

    assert otel.points("pmc.task.timeouts") == {CLOSE: 1}
    assert otel.points("pmc.task.retries") == {CLOSE: 1}


def test_without_instrument_the_runtime_reports_nothing_and_imports_no_opentelemetry() -> None:
    script = textwrap.dedent(
        """
        import sys
        from pmc.runtime import ProcessManager, Worker, telemetry
        from pmc.runtime.stores import open_store
        from tests.runtime.support import RebaseTasks, definition, seed

        m = seed()
        store = open_store("memory://")
        ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
        Worker(definition(m), store, RebaseTasks()).drain()
        assert telemetry.installed() is telemetry.NO_TELEMETRY
        print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
        """
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_pending_work_counts_the_rows_due_now_and_those_due_later(
    store: ProcessStore, clock: FakeClock, otel: Exported
) -> None:
    m = seed()
    otel.installed.watch_pending(store, ["RtRebase"])
    manager = ProcessManager(definition(m), store)
    worker = Worker(definition(m), store, RebaseTasks(fail_first(1, only="B")))

    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    two_due = otel.points("pmc.work.pending")
    worker.drain()  # A completes; B fails, and its retry is due in 2 s
    one_later = otel.points("pmc.work.pending")
    clock.advance(seconds=2)

    process = ("pmc.process", "RtRebase")
    assert two_due == {
        (process, ("pmc.work.state", "due")): 2,
        (process, ("pmc.work.state", "later")): 0,
    }
    assert one_later == {
        (process, ("pmc.work.state", "due")): 0,
        (process, ("pmc.work.state", "later")): 1,
    }
    assert otel.points("pmc.work.pending")[(process, ("pmc.work.state", "due"))] == 1


class CountsPendingReads(Passing):
    """A store that counts how often its pending work is counted."""

    def __init__(self, store: ProcessStore) -> None:
        super().__init__(store)
        self.counted = 0

    def pending_work(self, *args: object, **kwargs: object) -> object:
        self.counted += 1
        return self._store.pending_work(*args, **kwargs)  # type: ignore[arg-type]


def test_after_uninstrument_the_pending_work_is_no_longer_read(
    store: ProcessStore, otel: Exported
) -> None:
    counting = CountsPendingReads(store)
    otel.installed.watch_pending(counting, ["RtRebase"])  # type: ignore[arg-type]
    assert "pmc.work.pending" in otel.names()
    read_while_on = counting.counted

    uninstrument()

    assert "pmc.work.pending" not in otel.names()
    assert (read_while_on, counting.counted) == (1, 1)


def test_a_sync_task_timed_out_inline_by_a_handle_is_counted(
    store: ProcessStore, clock: FakeClock, otel: Exported
) -> None:
    m = order()
    # Planned by a program without the handlers: Reserve (sync) is not run.
    ProcessManager(definition(m), store).handle(m.Placed(order_id="o1", items=["book"]))
    manager = ProcessManager(definition(m), store, OrderTasks())
    # A runner starts its attempt and dies: its lease expires.
    task = next(iter(manager.state("o1").tasks.values()))
    ghost = started_event(definition(m), task, "ghost", clock() + timedelta(seconds=30))
    manager.record("o1", ghost, started_id(task.task_id, 1))

    clock.advance(seconds=30)
    manager.handle(m.Nudged(order_id="o1"))  # runs the sync tasks due: times Reserve out

    assert "TaskTimedOut" in names(manager.history("o1"))
    assert otel.points("pmc.task.timeouts") == {
        (("pmc.process", "RtOrder"), ("pmc.task", "Reserve")): 1
    }


class Escapes(RebaseTasks):
    """A handler that raises what the runtime does not catch (GeneratorExit)."""

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        raise GeneratorExit


def test_an_attempt_left_to_its_lease_by_an_escaping_error_ends_its_span(
    store: ProcessStore, otel: Exported
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    with pytest.raises(GeneratorExit):
        Worker(definition(m), store, Escapes()).drain()

    (attempt,) = otel.finished("pmc.task.attempt")
    assert (attempt.attributes or {})["pmc.task.outcome"] == "unrecorded"


class BrokenCounter:
    """A metric instrument with a bug: adding raises."""

    def add(self, amount: int, attributes: object = None) -> None:
        raise RuntimeError("a buggy metric")


def test_an_attempt_whose_metric_raises_still_ends_its_span_once_and_is_counted(
    store: ProcessStore, otel: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    monkeypatch.setattr(otel.installed, "outcomes", BrokenCounter())
    worker = Worker(definition(m), store, RebaseTasks())

    worker.drain()

    (attempt,) = otel.finished("pmc.task.attempt")
    assert (attempt.attributes or {})["pmc.task.outcome"] == "completed"
    assert worker.stats.completed == 1


# ---- an attempt stopped while its outcome is recorded ---------------------------------


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


# ---- telemetry that fails stops nothing -----------------------------------------------
# An application's span processor or propagator with a bug, a store whose claims
# fail, an instrument() done twice: the runtime records, counts and reports as
# it would without them, and reads no more of the store.


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

    # Were the span's end, after the append, to raise out of handle(), the caller
    # would see a failure and deliver the event again: it is recorded once all the same.
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

    # TaskStarted is recorded before the span starts: were its error to escape,
    # the handler would never run and the attempt be left to time out (a retry spent).
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
        # The claim loop has claimed nothing since it started: /healthz must not say 200.
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
    # metrics alone must not make each attempt read its whole stream for a link
    # (40 attempts x ~100 events).
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
    # The gauge's callback must be the second instrument()'s, which watches the store,
    # not the first one's, which watches nothing.
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

    # Every write asks carrier(): its error must not keep TaskStarted from being
    # recorded, the task from running, nor handle() from answering.
    assert "TaskCompleted" in names(manager.history("r1"))
