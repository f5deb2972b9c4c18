"""What the runtime tells its callers: what became of an event, and progress reports.

``HandleResult`` answers ``ProcessManager.handle`` and ``record``. The
reports say what a runner did to one machine of a stream: an attempt it ran
(``AttemptReport``), a lease it found expired (``TimeoutReport``), a timer it
fired (``TimerReport``). They share one shape, ``Report``: where it happened,
``subject()``, what it concerns, and ``describe()``, what became of it, in words.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Self

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime.lifecycle import TaskRetryScheduledBase
from pmc.runtime.state import ProcessState, TaskInFlight

OutcomeKind = Literal["completed", "failed"]


class HandleStatus(StrEnum):
    RECORDED = "recorded"  # recorded, with the decisions it caused
    IGNORED = "ignored"  # an input event recorded, but no transition accepted it
    DEDUPLICATED = "deduplicated"  # its id is already recorded: nothing done again
    NOT_STARTED = "not_started"  # no process instance, and this event may not start one
    AFTER_END = "after_end"  # the process has ended: not recorded
    STALE = "stale"  # the work it reports is no longer due (a runner's precondition)
    # A task outcome recorded that changes nothing: the instance left the state
    # while the task ran, the task had settled, or the process had ended
    # (``engine.outcome_changes_state``). The work happened, so it is recorded.
    LATE = "late"


class HandleManyError(PmcError):
    """Some deliveries of a ``handle_many`` raised; the others were recorded.

    ``results`` has one entry per delivery, in order: its result, or None
    where it raised; ``errors`` maps those deliveries' indexes to what they
    raised.
    """

    def __init__(self, results: list[HandleResult | None], errors: dict[int, Exception]) -> None:
        self.results = results
        self.errors = errors
        first = min(errors)
        failed = ", ".join(str(index) for index in sorted(errors))
        super().__init__(
            f"{len(errors)} of {len(results)} deliveries raised (at {failed}), the others"
            f" were handled; delivery {first}: {type(errors[first]).__name__}: {errors[first]}"
        )


@dataclass(frozen=True, slots=True)
class HandleResult:
    """What became of one event."""

    status: HandleStatus
    category: str
    key: str
    event_id: uuid.UUID
    state: ProcessState  # the stream's state afterwards, as this manager knows it
    decisions: tuple[Event, ...] = ()
    sync_runs: tuple[AttemptReport, ...] = ()  # sync tasks run inline afterwards

    @property
    def recorded(self) -> bool:
        return self.status in (HandleStatus.RECORDED, HandleStatus.IGNORED, HandleStatus.LATE)

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def retry_scheduled(self) -> bool:
        """A retry was decided on the event (it reported a failed or timed-out attempt)."""
        return any(isinstance(event, TaskRetryScheduledBase) for event in self.decisions)


# Keyword-only: the reports share their first fields, so positions would not
# say which report's field an argument is.
@dataclass(frozen=True, slots=True, kw_only=True)
class Report(ABC):
    """Something a runner did to one machine of a stream and recorded."""

    category: str
    key: str
    machine: str
    machine_id: str

    @abstractmethod
    def subject(self) -> str:
        """What it concerns, in words: ``Pay Orders/o1 Pay attempt 2``."""

    @abstractmethod
    def describe(self) -> str:
        """What became of it, in words: for logs and progress lines."""

    def _stream(self) -> str:
        return f"{self.category}/{self.key} {self.machine_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskReport(Report):
    """A report on one attempt of a task."""

    task: str
    task_id: uuid.UUID
    attempt: int

    @classmethod
    def of(cls, category: str, key: str, task: TaskInFlight, **details: Any) -> Self:
        """The report of kind ``cls`` on the current attempt of ``task`` in stream ``key``."""
        return cls(
            category=category,
            key=key,
            machine=task.machine,
            machine_id=task.machine_id,
            task=task.task,
            task_id=task.task_id,
            attempt=task.attempt,
            **details,
        )

    def subject(self) -> str:
        return f"{self.task} {self._stream()} attempt {self.attempt}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptReport(TaskReport):
    """One task attempt run to its end and its outcome recorded."""

    worker: str
    outcome: OutcomeKind
    reason: str | None  # why it failed
    recorded: HandleResult  # recording the outcome
    permanent: bool = False  # the handler raised PermanentFailure
    # The attempt's lease had expired and ``TaskTimedOut`` was recorded for it
    # before it returned: a later attempt, or nobody, owns the task now.
    timed_out: bool = False

    @property
    def retry_scheduled(self) -> bool:
        return self.recorded.retry_scheduled

    @property
    def late(self) -> bool:
        """The outcome was recorded and changed nothing (``HandleStatus.LATE``)."""
        return self.recorded.status is HandleStatus.LATE

    def describe(self) -> str:
        """``completed``; ``failed (reason); retry scheduled``; ``failed
        permanently (reason); failed for good``; ``timed out earlier, then
        completed; recorded late, changes nothing``; ``completed; not recorded
        (deduplicated)``.
        """
        what = self.outcome if self.reason is None else f"{self.outcome} ({self.reason})"
        if self.permanent:
            what = f"failed permanently ({self.reason})"
        if self.timed_out:
            what = f"timed out earlier, then {what}"
        if not self.recorded.recorded:
            return f"{what}; not recorded ({self.recorded.status})"
        if self.late:
            return f"{what}; recorded late, changes nothing"
        if self.outcome == "completed":
            return f"{what}; recorded" if self.timed_out else what
        return f"{what}; {Fate.of(self.retry_scheduled)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutReport(TaskReport):
    """An attempt whose lease expired, recorded as ``TaskTimedOut`` by this worker."""

    retry_scheduled: bool

    def describe(self) -> str:
        return f"timed out; {Fate.of(self.retry_scheduled)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerReport(Report):
    """A timer this worker fired (``TimerFired``)."""

    timer_id: uuid.UUID
    transition: str

    def subject(self) -> str:
        return f"timer {self._stream()}"

    def describe(self) -> str:
        return f"fired ({self.transition})"


# The name a ``Worker`` listener's first argument was typed with before the
# reports shared one base.
Progress = Report


class Fate(StrEnum):
    """What follows a failed or timed-out attempt, decided here alone."""

    RETRYING = "retry scheduled"
    FAILED = "failed for good"

    @classmethod
    def of(cls, retry_scheduled: bool) -> Fate:
        return cls.RETRYING if retry_scheduled else cls.FAILED
