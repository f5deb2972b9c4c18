"""The runtime's telemetry on OpenTelemetry: one span per handle and per attempt, and metrics.

Names follow OpenTelemetry's semantic-convention style (dotted, lower case,
units in UCUM). Attributes are low-cardinality on metrics (process, task,
outcome) and detailed on spans (key, task id, attempt, worker).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import partial
from types import TracebackType

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Span, Status, StatusCode

from pmc import __version__
from pmc.runtime import telemetry
from pmc.runtime.log import logger
from pmc.runtime.results import AttemptReport, HandleResult
from pmc.runtime.state import TaskInFlight
from pmc.runtime.stores.api import ProcessStore, WorkItem

INSTRUMENTATION_NAME = "pmc"

# Span names.
HANDLE_SPAN = "pmc.handle"
ATTEMPT_SPAN = "pmc.task.attempt"

# Attribute names.
PROCESS = "pmc.process"
KEY = "pmc.key"
EVENT = "pmc.event"
EVENT_ID = "pmc.event.id"
HANDLE_STATUS = "pmc.handle.status"
VERSION = "pmc.version"
TASK = "pmc.task"
TASK_ID = "pmc.task.id"
ATTEMPT = "pmc.task.attempt"
OUTCOME = "pmc.task.outcome"
RETRY_SCHEDULED = "pmc.task.retry_scheduled"
WORKER = "pmc.worker"
MACHINE = "pmc.machine"
WORK_KIND = "pmc.work.kind"
WORK_STATE = "pmc.work.state"
LINK = "pmc.link"

# The counters: name, unit, description.
COUNTERS = (
    ("pmc.task.attempts", "{attempt}", "Task attempts started."),
    (
        "pmc.task.outcomes",
        "{attempt}",
        "Task attempts whose outcome this runner recorded, by outcome.",
    ),
    ("pmc.task.retries", "{retry}", "Retries scheduled after a failed or timed-out attempt."),
    ("pmc.task.timeouts", "{attempt}", "Attempts whose lease expired, recorded as TaskTimedOut."),
)

# Histogram buckets (seconds): a claim is late by milliseconds when workers
# keep up and by minutes when they do not; a handle takes milliseconds,
# seconds when it runs slow sync tasks.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class OpenTelemetry:
    """``pmc.runtime.telemetry.Telemetry`` on an OpenTelemetry tracer and meter."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        """Without providers, the application's global ones (``trace.get_tracer_provider()``)."""
        self.tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider)
        self.meter_provider = meter_provider or metrics.get_meter_provider()
        meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__, self.meter_provider)
        self.attempts, self.outcomes, self.retries, self.timeouts = (
            meter.create_counter(name, unit=unit, description=description)
            for name, unit, description in COUNTERS
        )
        self.lag = meter.create_histogram(
            "pmc.work.lag",
            unit="s",
            description="How long after it was due a worker claimed a row of pending work.",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS,
        )
        self.handle_duration = meter.create_histogram(
            "pmc.handle.duration",
            unit="s",
            description="Duration of ProcessManager.handle, sync tasks run inline included.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._watched: list[tuple[ProcessStore, tuple[str, ...]]] = []
        # A provider keeps the first gauge of a name with its callback (instrument()
        # again on it gets that one back), so the callback reads whatever is
        # installed when it is collected, if it reports to this provider.
        meter.create_observable_gauge(
            "pmc.work.pending",
            callbacks=[partial(_observe_installed, self.meter_provider)],
            unit="{row}",
            description="Rows of pending work: due (claimable now) or later.",
        )

    def watch_pending(self, store: ProcessStore, categories: Sequence[str]) -> None:
        """Report the pending work of ``categories`` in ``store`` (``pmc.work.pending``).

        Counted when the metrics are collected (a scrape): one read per process.
        """
        self._watched.append((store, tuple(categories)))

    def observe_pending(self) -> Iterator[metrics.Observation]:
        """The ``pmc.work.pending`` observations of the stores watched (one read each)."""
        for store, categories in list(self._watched):
            try:
                now = store.now()
                counted = [(category, store.pending_work(now, category)) for category in categories]
            except Exception:
                # The store is unreachable, say: the other metrics are still worth a scrape.
                logger.exception("pmc.work.pending: counting the pending work failed")
                continue
            for category, pending in counted:
                yield metrics.Observation(pending.due, {PROCESS: category, WORK_STATE: "due"})
                yield metrics.Observation(pending.later, {PROCESS: category, WORK_STATE: "later"})

    def handling(self, category: str, key: str, event: str) -> telemetry.HandleScope:
        return _Handling(self, category, key, event)

    def carrier(self) -> Mapping[str, str] | None:
        values: dict[str, str] = {}
        propagate.inject(values)
        return values or None

    def attempt(
        self,
        category: str,
        key: str,
        task: TaskInFlight,
        worker: str,
        planned_by: telemetry.PlannedBy,
    ) -> telemetry.AttemptScope:
        labels = {PROCESS: category, TASK: task.task}
        self.attempts.add(1, labels)
        span = self.tracer.start_span(
            ATTEMPT_SPAN,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                **labels,
                KEY: key,
                TASK_ID: str(task.task_id),
                ATTEMPT: task.attempt,
                MACHINE: task.machine_id,
                WORKER: worker,
            },
        )
        return _Attempt(self, span, labels, planned_by)

    def timed_out(self, category: str, task: TaskInFlight, retry_scheduled: bool) -> None:
        labels = {PROCESS: category, TASK: task.task}
        self.timeouts.add(1, labels)
        if retry_scheduled:
            self.retries.add(1, labels)

    def claimed(self, items: Sequence[WorkItem], now: datetime) -> None:
        for item in items:
            lag = (now - item.due_at).total_seconds()
            # A row claimed before it was due (a lease taken over early) is not late.
            self.lag.record(max(lag, 0.0), {PROCESS: item.category, WORK_KIND: item.kind})


class _Handling:
    """The span and duration of one ``handle``."""

    def __init__(self, otel: OpenTelemetry, category: str, key: str, event: str) -> None:
        self._otel = otel
        self._labels = {PROCESS: category}
        self._attributes = {PROCESS: category, KEY: key, EVENT: event}
        self._status = "error"
        self._span: AbstractContextManager[Span] | None = None
        self._started = 0.0

    def __enter__(self) -> _Handling:
        self._span = self._otel.tracer.start_as_current_span(
            HANDLE_SPAN, attributes=self._attributes
        )
        self._current = self._span.__enter__()
        self._started = time.perf_counter()
        return self

    def handled(self, result: HandleResult) -> None:
        self._status = str(result.status)
        self._current.set_attributes(
            {HANDLE_STATUS: self._status, EVENT_ID: str(result.event_id), VERSION: result.version}
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._span is not None
        try:
            self._otel.handle_duration.record(
                time.perf_counter() - self._started, {**self._labels, HANDLE_STATUS: self._status}
            )
        finally:
            # Ended even if recording failed. The span records the exception
            # and sets its status to ERROR.
            self._span.__exit__(kind, error, traceback)


class _Attempt:
    """The span of one attempt, started when its ``TaskStarted`` was recorded."""

    def __init__(
        self,
        otel: OpenTelemetry,
        span: Span,
        labels: dict[str, str],
        planned_by: telemetry.PlannedBy,
    ) -> None:
        self._otel = otel
        self._span = span
        self._labels = labels
        self._planned_by = planned_by
        self._prepared = False
        self._ended = False

    def prepare(self) -> None:
        # The link to the planning span costs a read of the stream: made
        # only for a span that is recorded (not with metrics alone, nor for
        # a span the sampler dropped), and in the thread that runs the
        # handler (or, for an async handler, a thread before it runs), not
        # in a worker's claim thread, which started the span. Added after
        # the start, so a sampler does not see it.
        if self._prepared:
            return
        self._prepared = True
        if self._span.is_recording():
            for link in _link_to(_read(self._planned_by)):
                self._span.add_link(link.context, link.attributes)

    def running(self) -> AbstractContextManager[object]:
        self.prepare()
        return _current(self._span)

    def finished(self, report: AttemptReport) -> None:
        if self._end():
            return
        # The span ends even if a metric or an attribute raises (the error is
        # logged by the runtime's seam, pmc.runtime.telemetry).
        with _ending(self._span):
            outcome = _outcome(report)
            self._span.set_attributes({OUTCOME: outcome, RETRY_SCHEDULED: report.retry_scheduled})
            if report.outcome == "failed":
                self._span.set_status(Status(StatusCode.ERROR, report.reason))
            if report.recorded.recorded:
                self._otel.outcomes.add(1, {**self._labels, OUTCOME: outcome})
                if report.retry_scheduled:
                    self._otel.retries.add(1, self._labels)

    def abandoned(self, error: BaseException) -> None:
        if self._end():
            return
        with _ending(self._span):
            self._span.record_exception(error)
            self._span.set_status(Status(StatusCode.ERROR, "its outcome could not be recorded"))
            self._span.set_attribute(OUTCOME, "unrecorded")

    def _end(self) -> bool:
        """Whether the attempt had ended already (an attempt cancelled while its
        outcome was recorded is reported finished, then abandoned): it ends once."""
        ended, self._ended = self._ended, True
        return ended


@contextmanager
def _ending(span: Span) -> Iterator[Span]:
    """``span``, ended on the way out whatever happens inside."""
    try:
        yield span
    finally:
        span.end()


def _observe_installed(
    provider: metrics.MeterProvider, _options: metrics.CallbackOptions
) -> Iterator[metrics.Observation]:
    """The pending work watched by the telemetry installed now, if it reports to
    ``provider``; nothing once uninstrumented."""
    installed = telemetry.given()
    if isinstance(installed, OpenTelemetry) and installed.meter_provider is provider:
        yield from installed.observe_pending()


def _read(planned_by: telemetry.PlannedBy) -> Mapping[str, str] | None:
    """``planned_by()``; None if the read fails: a span without its link, never an
    attempt that does not run."""
    try:
        return planned_by()
    except Exception:
        logger.warning("pmc.task.attempt: reading the planning event failed", exc_info=True)
        return None


def _link_to(planned_by: Mapping[str, str] | None) -> list[trace.Link]:
    """A link to the span recorded with the event that planned the task, if one was."""
    if planned_by is None:
        return []
    planner = trace.get_current_span(propagate.extract(planned_by)).get_span_context()
    return [trace.Link(planner, {LINK: "planned_by"})] if planner.is_valid else []


@contextmanager
def _current(span: Span) -> Iterator[Span]:
    """``span`` current (a parent for the handler's spans) without ending it on exit."""
    with trace.use_span(span, end_on_exit=False):
        yield span


def _outcome(report: AttemptReport) -> str:
    """``completed`` or ``failed``; ``late`` when recorded late, changing nothing;
    ``duplicate`` when another runner had recorded it first."""
    if not report.recorded.recorded:
        return "duplicate"
    return "late" if report.late else report.outcome


def instrument(
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> OpenTelemetry:
    """Report the runtime's spans and metrics to OpenTelemetry from now on; what is installed.

    Without providers, the application's global ones, as they are when this
    is called (set them first).
    """
    installed = OpenTelemetry(tracer_provider, meter_provider)
    telemetry.install(installed)
    return installed


def uninstrument() -> None:
    """Stop reporting: the runtime's telemetry does nothing again."""
    telemetry.install(None)
