"""The runtime's spans and metrics, read back from OpenTelemetry's in-memory exporters.

Names, attributes and units are the ones docs/operations.md ("Metrics and
traces") lists.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Any

import pytest

from pmc.otel import uninstrument
from pmc.runtime import TaskContext
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
