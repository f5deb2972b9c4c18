"""Preconditions of the runtime's own reports, checked on the state they are decided on.

A runner judges what is due from a state it read; by the time it records
what it did (an attempt started, a lease renewed, a timeout, a fired timer)
another runner may have moved the stream on. ``Recorder.append`` checks
the precondition on the state each try is decided on and writes nothing if
it no longer holds (``HandleStatus.STALE``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from pmc.runtime.state import ProcessState, TaskInFlight, TaskStatus
from pmc.runtime.work import StartAttempt, TimeOut, task_action

Precondition = Callable[[ProcessState], bool]


def startable(task: TaskInFlight, now: datetime) -> Precondition:
    """The attempt of ``task`` is still the one to start, and due."""
    return _attempt_calls_for(task, now, StartAttempt)


def lease_expired(task: TaskInFlight, now: datetime) -> Precondition:
    """The attempt of ``task`` is still running on a lease that has passed."""
    return _attempt_calls_for(task, now, TimeOut)


def _attempt_calls_for(
    task: TaskInFlight, now: datetime, action: type[StartAttempt] | type[TimeOut]
) -> Precondition:
    """The same attempt of ``task`` is still current and its due action is ``action``."""

    def check(state: ProcessState) -> bool:
        current = state.tasks.get(task.task_id)
        if current is None or current.attempt != task.attempt:
            return False
        return isinstance(task_action(current, now), action)

    return check


def held_by(task: TaskInFlight, worker: str) -> Precondition:
    """The attempt of ``task`` is still running under ``worker``'s lease."""

    def check(state: ProcessState) -> bool:
        current = state.tasks.get(task.task_id)
        return (
            current is not None
            and current.attempt == task.attempt
            and current.status is TaskStatus.RUNNING
            and current.worker == worker
        )

    return check


def timer_due(timer_id: uuid.UUID, now: datetime) -> Precondition:
    """The timer is still pending and its time has come."""

    def check(state: ProcessState) -> bool:
        timer = state.timers.get(timer_id)
        return timer is not None and timer.due_at <= now

    return check
