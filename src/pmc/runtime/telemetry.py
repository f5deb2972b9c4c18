"""The runtime's instrumentation seam: spans and metrics, off unless installed.

The runtime imports no tracing library. It tells the ``Telemetry`` installed
here what it does (an event handled, an attempt started and finished, a
timeout recorded, work claimed late), and the default one does nothing.
``pmc.otel.instrument()`` installs one built on OpenTelemetry (the
``event-sourcery-pmc[otel]`` extra). One per process, like OpenTelemetry's
own global providers: every manager and worker of the process reports to it.

The no-op path must cost close to nothing: a hot path asks ``installed()``
for the current object and calls a method that returns at once (a shared
context manager for the scopes).

Telemetry fails open: what ``install()`` is given is wrapped so that an
exception it raises (a span processor's, a propagator's, an exporter's) is
logged, at most once a minute for each kind of call, and the call does
nothing instead. A bug in the application's telemetry never fails a handle
whose events were appended, stops an attempt, or stops a write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from pmc.runtime.log import logger
from pmc.runtime.results import AttemptReport, HandleResult
from pmc.runtime.state import TaskInFlight
from pmc.runtime.stores.api import WorkItem


class HandleScope(Protocol):
    """The scope of one ``ProcessManager.handle``, entered around it."""

    def __enter__(self) -> HandleScope: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def handled(self, result: HandleResult) -> None:
        """What became of the event (called inside the scope, unless handling raised)."""


class AttemptScope(Protocol):
    """One task attempt, from its ``TaskStarted`` to the report on its outcome."""

    def prepare(self) -> None:
        """Make the reads ``running()`` needs (the planning event's trace). An
        asyncio worker calls it in a thread before entering ``running()`` on
        its event loop, which must not wait on the store; ``running()``
        prepares itself if it was not."""

    def running(self) -> AbstractContextManager[object]:
        """Entered while the handler runs: the handler's own spans are the attempt's children."""

    def finished(self, report: AttemptReport) -> None:
        """Its outcome was recorded (or found recorded): the attempt is over."""

    def abandoned(self, error: BaseException) -> None:
        """Its outcome could not be recorded: left to its lease (it will time out)."""


# The trace context recorded with the event that planned a task, read only when asked.
PlannedBy = Callable[[], Mapping[str, str] | None]


class Telemetry(Protocol):
    def handling(self, category: str, key: str, event: str) -> HandleScope:
        """A scope around handling ``event`` (its class name) in stream ``key``."""

    def carrier(self) -> Mapping[str, str] | None:
        """The current trace context (W3C ``traceparent``, ...) to record with the events
        being appended; None to record none."""

    def attempt(
        self, category: str, key: str, task: TaskInFlight, worker: str, planned_by: PlannedBy
    ) -> AttemptScope:
        """The attempt of ``task`` whose ``TaskStarted`` was just recorded by ``worker``.

        ``planned_by()`` reads the trace context recorded with the event that
        planned the task (a read of its stream): call it only if it is used,
        and not here but in ``running()`` (``attempt`` is called in a
        worker's claim thread, which must not wait on reads).
        """

    def timed_out(self, category: str, task: TaskInFlight, retry_scheduled: bool) -> None:
        """A ``TaskTimedOut`` this runner recorded for ``task``'s current attempt."""

    def claimed(self, items: Sequence[WorkItem], now: datetime) -> None:
        """A worker claimed ``items`` at ``now``: how late each due row was taken."""


class _Nothing:
    """Every scope of the no-op telemetry: one shared object, entered and left for free."""

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *_raised: object) -> None:
        return None

    def handled(self, result: HandleResult) -> None:
        return None

    def prepare(self) -> None:
        return None

    def running(self) -> _Nothing:
        return self

    def finished(self, report: AttemptReport) -> None:
        return None

    def abandoned(self, error: BaseException) -> None:
        return None


_NOTHING = _Nothing()
# The attempt scope of no telemetry: nothing to prepare.
NO_ATTEMPT: AttemptScope = _NOTHING


class NoTelemetry:
    """The default: records nothing."""

    def handling(self, category: str, key: str, event: str) -> HandleScope:
        return _NOTHING

    def carrier(self) -> Mapping[str, str] | None:
        return None

    def attempt(
        self, category: str, key: str, task: TaskInFlight, worker: str, planned_by: PlannedBy
    ) -> AttemptScope:
        return _NOTHING

    def timed_out(self, category: str, task: TaskInFlight, retry_scheduled: bool) -> None:
        return None

    def claimed(self, items: Sequence[WorkItem], now: datetime) -> None:
        return None


NO_TELEMETRY = NoTelemetry()

# How often the errors of one kind of telemetry call are logged, at most.
COMPLAINT_INTERVAL = 60.0

Value = TypeVar("Value")


class _Complaints:
    """Logs the errors of one installed telemetry: the first of each kind with its
    traceback, then at most one line per ``COMPLAINT_INTERVAL`` counting those since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def failed(self, kind: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < COMPLAINT_INTERVAL:
                self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
                return
            self._last[kind] = now
            unlogged = self._unlogged.pop(kind, 0)
        if last is None:
            logger.exception("telemetry %s failed; ignored (the runtime goes on)", kind)
        else:
            logger.warning(
                "telemetry %s failed %d times since it was last logged; ignored",
                kind,
                unlogged + 1,
                exc_info=True,
            )

    def safely(self, kind: str, call: Callable[[], Value], otherwise: Value) -> Value:
        """``call()``, or ``otherwise`` if it raises (logged as an error of ``kind``)."""
        try:
            return call()
        except Exception:
            self.failed(kind)
            return otherwise


class _FailOpenContext:
    """The context manager ``opened()`` returns, its errors logged and ignored (as
    ``kind``); left only if it was entered."""

    def __init__(
        self,
        complaints: _Complaints,
        kind: str,
        opened: Callable[[], AbstractContextManager[object]],
    ) -> None:
        self._complaints = complaints
        self._kind = kind
        self._opened = opened
        self._entered: AbstractContextManager[object] | None = None

    def __enter__(self) -> Self:
        def enter() -> AbstractContextManager[object]:
            context = self._opened()
            context.__enter__()
            return context

        self._entered = self._complaints.safely(self._kind, enter, None)
        return self

    def __exit__(self, *raised: Any) -> None:
        # Never swallows what was raised inside: the caller's own exception goes on.
        entered = self._entered
        if entered is not None:
            self._complaints.safely(self._kind, lambda: entered.__exit__(*raised), None)


class _FailOpenHandle(_FailOpenContext):
    """A handle scope whose errors are logged and ignored."""

    def __init__(self, complaints: _Complaints, scope: HandleScope) -> None:
        super().__init__(complaints, "handling", lambda: scope)
        self._scope = scope

    def handled(self, result: HandleResult) -> None:
        if self._entered is not None:
            self._complaints.safely("handling.handled", lambda: self._scope.handled(result), None)


class _FailOpenAttempt:
    """An attempt scope whose errors are logged and ignored."""

    def __init__(self, complaints: _Complaints, scope: AttemptScope) -> None:
        self._complaints = complaints
        self._scope = scope

    def prepare(self) -> None:
        self._complaints.safely("attempt.prepare", self._scope.prepare, None)

    def running(self) -> AbstractContextManager[object]:
        return _FailOpenContext(self._complaints, "attempt.running", self._scope.running)

    def finished(self, report: AttemptReport) -> None:
        self._complaints.safely("attempt.finished", lambda: self._scope.finished(report), None)

    def abandoned(self, error: BaseException) -> None:
        self._complaints.safely("attempt.abandoned", lambda: self._scope.abandoned(error), None)


class FailOpen:
    """``telemetry`` with every error it raises logged and ignored (the call does nothing)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._complaints = _Complaints()

    def handling(self, category: str, key: str, event: str) -> HandleScope:
        scope = self._complaints.safely(
            "handling", lambda: self.telemetry.handling(category, key, event), None
        )
        return _NOTHING if scope is None else _FailOpenHandle(self._complaints, scope)

    def carrier(self) -> Mapping[str, str] | None:
        return self._complaints.safely("carrier", self.telemetry.carrier, None)

    def attempt(
        self, category: str, key: str, task: TaskInFlight, worker: str, planned_by: PlannedBy
    ) -> AttemptScope:
        scope = self._complaints.safely(
            "attempt",
            lambda: self.telemetry.attempt(category, key, task, worker, planned_by),
            None,
        )
        return _NOTHING if scope is None else _FailOpenAttempt(self._complaints, scope)

    def timed_out(self, category: str, task: TaskInFlight, retry_scheduled: bool) -> None:
        self._complaints.safely(
            "timed_out", lambda: self.telemetry.timed_out(category, task, retry_scheduled), None
        )

    def claimed(self, items: Sequence[WorkItem], now: datetime) -> None:
        self._complaints.safely("claimed", lambda: self.telemetry.claimed(items, now), None)


_installed: Telemetry = NO_TELEMETRY


def installed() -> Telemetry:
    """The telemetry the runtime reports to now (its errors logged and ignored)."""
    return _installed


def given() -> Telemetry | None:
    """The telemetry last given to ``install()`` (not wrapped); None if none is installed."""
    installed = _installed
    return installed.telemetry if isinstance(installed, FailOpen) else None


def install(telemetry: Telemetry | None) -> Telemetry | None:
    """Report to ``telemetry`` from now on (None: to nothing), failing open; the one
    installed before (None: none was)."""
    global _installed
    before = given()
    _installed = NO_TELEMETRY if telemetry is None else FailOpen(telemetry)
    return before
