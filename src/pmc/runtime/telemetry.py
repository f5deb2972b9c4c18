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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol

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
        planned the task (a read of its stream): call it only if it is used.
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

    def running(self) -> _Nothing:
        return self

    def finished(self, report: AttemptReport) -> None:
        return None

    def abandoned(self, error: BaseException) -> None:
        return None


_NOTHING = _Nothing()


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
_installed: Telemetry = NO_TELEMETRY


def installed() -> Telemetry:
    """The telemetry the runtime reports to now."""
    return _installed


def install(telemetry: Telemetry | None) -> Telemetry:
    """Report to ``telemetry`` from now on (None: to nothing); the one installed before."""
    global _installed
    before, _installed = _installed, telemetry or NO_TELEMETRY
    return before
