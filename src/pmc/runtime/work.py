"""Rows of the pending-work index, derived from the state a decision leads to.

The index is only a pointer: it says which stream to look at and when. A
worker that claims a row reads the stream and decides from its state what is
really due (see ``due_action``), so a stale row costs a read, never a wrong
effect.

One row per task in flight, ``task:<task_id>``, due

- at once for a planned async task (a worker should start it);
- ``sync_grace`` after planning for a planned sync task: the process manager
  runs it inline, and a worker steps in only if that never happened (a
  crash between the decision and the run);
- at ``not_before`` for a scheduled retry;
- at ``lease_until`` for a running attempt: if no outcome is recorded by
  then, a worker records ``TaskTimedOut``.

One row per pending timer, ``timer:<timer_id>``, due at ``due_at``. Rows are
upserted only when their task or timer changed, because an upsert clears a
worker's claim on the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from pmc.runtime.state import ProcessState, TaskInFlight, TaskStatus, Timer
from pmc.runtime.stores.api import (
    JsonValue,
    ProcessStore,
    VersionConflict,
    WorkChanges,
    WorkItem,
    WorkRow,
)

TASK_PREFIX = "task:"
TIMER_PREFIX = "timer:"

# How long a planned sync task waits for its process manager before a worker
# runs it instead. Long enough that a healthy manager always wins the race.
DEFAULT_SYNC_GRACE = timedelta(seconds=30)


def task_work_id(task_id: UUID) -> str:
    return f"{TASK_PREFIX}{task_id}"


def timer_work_id(timer_id: UUID) -> str:
    return f"{TIMER_PREFIX}{timer_id}"


def work_changes(
    before: ProcessState,
    after: ProcessState,
    now: datetime,
    sync_grace: timedelta = DEFAULT_SYNC_GRACE,
) -> WorkChanges:
    """What the index must change when a stream moves from ``before`` to ``after``."""
    if after.ended:
        # Nothing is started, retried, timed out or fired after the end; a
        # worker still running an attempt records its outcome on its own.
        stale = {task_work_id(t) for t in (*before.tasks, *after.tasks)}
        stale |= {timer_work_id(t) for t in (*before.timers, *after.timers)}
        return WorkChanges(delete=tuple(sorted(stale)))
    upsert = [
        task_row(task, now, sync_grace)
        for task_id, task in after.tasks.items()
        if before.tasks.get(task_id) != task
    ]
    upsert += [
        timer_row(timer)
        for timer_id, timer in after.timers.items()
        if before.timers.get(timer_id) != timer
    ]
    delete = [task_work_id(t) for t in before.tasks if t not in after.tasks]
    delete += [timer_work_id(t) for t in before.timers if t not in after.timers]
    return WorkChanges(
        upsert=tuple(sorted(upsert, key=lambda row: row.work_id)), delete=tuple(sorted(delete))
    )


def task_row(task: TaskInFlight, now: datetime, sync_grace: timedelta) -> WorkRow:
    payload: dict[str, JsonValue] = {
        "task_id": str(task.task_id),
        "task": task.task,
        "attempt": task.attempt,
        "status": str(task.status),
    }
    return WorkRow(task_work_id(task.task_id), "task", task_due_at(task, now, sync_grace), payload)


def task_due_at(task: TaskInFlight, now: datetime, sync_grace: timedelta) -> datetime:
    match task.status:
        case TaskStatus.RUNNING if task.lease_until is not None:
            return task.lease_until
        case TaskStatus.RETRY_SCHEDULED if task.not_before is not None:
            return task.not_before
        case TaskStatus.PLANNED if task.mode == "sync":
            return now + sync_grace
        case _:
            return now


def timer_row(timer: Timer) -> WorkRow:
    payload: dict[str, JsonValue] = {
        "timer_id": str(timer.timer_id),
        "transition": timer.transition,
    }
    return WorkRow(timer_work_id(timer.timer_id), "timer", timer.due_at, payload)


# ---- what a claimed row asks for ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartAttempt:
    """Start the task's current attempt (planned, or a retry whose time has come)."""

    task: TaskInFlight


@dataclass(frozen=True, slots=True)
class TimeOut:
    """The running attempt's lease has passed without an outcome."""

    task: TaskInFlight


@dataclass(frozen=True, slots=True)
class FireTimer:
    timer: Timer


@dataclass(frozen=True, slots=True)
class NotYet:
    """The row is due earlier than its work: move it to ``due_at``."""

    due_at: datetime


@dataclass(frozen=True, slots=True)
class Drop:
    """The work is done or abandoned: delete the row."""

    reason: Literal["settled", "ended", "unknown"]


DueAction = StartAttempt | TimeOut | FireTimer | NotYet | Drop


def due_action(state: ProcessState, item: WorkItem, now: datetime) -> DueAction:
    """What a worker holding ``item`` should do, judged from the stream's state alone."""
    if state.ended:
        return Drop("ended")
    if item.work_id.startswith(TASK_PREFIX):
        task = state.tasks.get(_uuid(item.work_id.removeprefix(TASK_PREFIX)))
        return Drop("settled") if task is None else task_action(task, now)
    if item.work_id.startswith(TIMER_PREFIX):
        timer = state.timers.get(_uuid(item.work_id.removeprefix(TIMER_PREFIX)))
        if timer is None:
            return Drop("settled")
        return FireTimer(timer) if timer.due_at <= now else NotYet(timer.due_at)
    return Drop("unknown")


def task_action(task: TaskInFlight, now: datetime) -> DueAction:
    """What is due for a task in flight at ``now``."""
    match task.status:
        case TaskStatus.PLANNED:
            return StartAttempt(task)
        case TaskStatus.RETRY_SCHEDULED:
            if task.not_before is not None and task.not_before > now:
                return NotYet(task.not_before)
            return StartAttempt(task)
        case TaskStatus.RUNNING:
            if task.lease_until is None or task.lease_until <= now:
                return TimeOut(task)
            return NotYet(task.lease_until)
        case TaskStatus.FAILED:
            # Only between a failure and its retry inside one decision; a
            # stored state never ends here, but starting again is the safe move.
            return StartAttempt(task)


def set_work(store: ProcessStore, item: WorkItem, due_at: datetime | None, judged_at: int) -> bool:
    """Move a claimed index row to ``due_at``, or delete it (None).

    ``judged_at`` is the stream version the caller judged the row on. The
    change is written at that version, so if a decision was recorded since
    (and rewrote the row) nothing is written and the answer is False.
    """
    if due_at is None:
        changes = WorkChanges(delete=(item.work_id,))
    else:
        changes = WorkChanges(upsert=(WorkRow(item.work_id, item.kind, due_at, item.payload),))
    try:
        store.append(item.category, item.key, [], judged_at, changes, now=store.now())
    except VersionConflict:
        return False
    return True


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        return UUID(int=0)
