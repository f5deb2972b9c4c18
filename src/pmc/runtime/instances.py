"""The instance index: one row per process instance, for operators to find instances by.

Each append that records events also writes its stream's row, in the same
transaction (``AppendRequest.instance``), computed from the states the
recorder folded anyway: the state before the append, the state after it and
the events appended. Nothing here reads a store, so folding a stream from the
start (``pmc db reindex``) computes the same row the live appends wrote.

What a row holds, and where it comes from:

- ``status``: ``running`` until the process ends, then how it ended;
- ``states``: machine -> machine id -> state, of every machine instance;
- ``version``, ``created_at`` (the first event's time), ``updated_at`` (the
  last event's time), ``end_reason``;
- ``last_failure``: the last failed or timed-out attempt of a task that was
  in flight (an outcome reported after its task was settled is no failure
  of the instance);
- ``next_due``: when a worker should next act on the instance: the earliest
  of its pending-work rows (due time, or the end of a claim's lease if
  later). Read from the work index itself when rows are read, so it is
  exactly what the workers see, never stored twice.

"Stuck" (``InstanceQuery.stuck_for=d``, judged at the store's clock ``now``):
a running instance whose pending work has been due for ``d`` or more
(``next_due <= now - d``: no worker took it), or that has no pending work at
all and has not been updated for ``d`` (it waits for an input event that has
not come). An instance waiting for a timer due later, or for a retry's time,
is not stuck.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast
from uuid import UUID

from event_sourcery import Event

from pmc.runtime.lifecycle import TaskFailedBase, TaskTimedOutBase
from pmc.runtime.state import End, ProcessState, TaskInFlight, frozen_map

# The most rows one page of ``Operations.instances`` holds: a page, not a dump.
MAX_LIMIT = 1000

JsonObject = dict[str, object]


class JsonView:
    """Data an operator reads: ``to_json()`` gives it as plain JSON values."""

    __slots__ = ()

    def to_json(self) -> JsonObject:
        return json_object(self)


def json_object(value: object) -> JsonObject:
    """A dataclass as a JSON object of its fields (see ``plain``)."""
    return {f.name: plain(getattr(value, f.name)) for f in fields(cast(Any, value))}


def plain(value: object) -> object:
    """``value`` in JSON values: dataclasses as objects of their fields, times in
    ISO 8601, enums as their values, mappings as objects, tuples as arrays."""
    if is_dataclass(value) and not isinstance(value, type):
        return json_object(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    return value


class InstanceStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_STATUS_OF_END = {
    End.COMPLETED: InstanceStatus.COMPLETED,
    End.FAILED: InstanceStatus.FAILED,
    End.CANCELLED: InstanceStatus.CANCELLED,
}


def status_of(state: ProcessState) -> InstanceStatus:
    return InstanceStatus.RUNNING if state.end is None else _STATUS_OF_END[state.end]


@dataclass(frozen=True, slots=True)
class Failure(JsonView):
    """A failed (or timed-out) attempt of a task: ``reason`` as recorded, ``at`` its time."""

    task: str
    machine: str
    machine_id: str
    attempt: int
    reason: str
    at: datetime

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> Failure:
        return cls(
            task=str(value["task"]),
            machine=str(value["machine"]),
            machine_id=str(value["machine_id"]),
            attempt=cast(int, value["attempt"]),
            reason=str(value["reason"]),
            at=datetime.fromisoformat(str(value["at"])),
        )


StateRow = tuple[str, str, str]  # (machine, machine id, state)
# One decision of an append: its events, and the state they leave.
Decided = tuple[Sequence[Event], ProcessState]


@dataclass(frozen=True, slots=True)
class InstanceRow(JsonView):
    """A row of the instance index, as read (see the module's docstring)."""

    category: str
    key: str
    status: InstanceStatus
    states: Mapping[str, Mapping[str, str]]
    version: int
    created_at: datetime
    updated_at: datetime
    next_due: datetime | None
    last_failure: Failure | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class InstanceUpdate:
    """What one append writes to its stream's row of the index.

    ``created_at`` set: the whole row (the stream's first append, or a
    rebuild): every field as given, ``states`` all of them. None: the row
    as it stands is updated, ``states`` holding only the instances whose
    state changed, ``last_failure`` None keeping the row's; a stream
    without a row (written before the index existed) keeps having none
    until ``pmc db reindex`` writes it, so no row is ever half known.
    """

    status: InstanceStatus
    version: int
    updated_at: datetime
    states: tuple[StateRow, ...]
    last_failure: Failure | None
    end_reason: str | None
    created_at: datetime | None = None

    @property
    def whole(self) -> bool:
        return self.created_at is not None


@dataclass(frozen=True, slots=True)
class InstanceQuery:
    """Which rows ``ProcessStore.instances`` returns: every filter given must hold.

    ``state``: (machine, state), some instance of the machine in that state.
    ``stuck_for``: see the module's docstring. ``updated_before``: last
    updated strictly before. Rows come ordered by key (by code point), at
    most ``limit``, those after key ``after`` (the last key of the page
    before): a stable paging whatever is written meanwhile.
    """

    status: InstanceStatus | None = None
    state: tuple[str, str] | None = None
    stuck_for: timedelta | None = None
    updated_before: datetime | None = None
    limit: int = 50
    after: str | None = None

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")
        if self.stuck_for is not None and self.stuck_for <= timedelta(0):
            raise ValueError(f"stuck_for must be positive, got {self.stuck_for}")
        if self.updated_before is not None and self.updated_before.utcoffset() is None:
            raise ValueError("updated_before must be a timezone-aware datetime")

    def is_stuck(self, row: InstanceRow, now: datetime) -> bool:
        """The ``stuck_for`` filter, for stores that filter rows in Python."""
        if self.stuck_for is None:
            return True
        cutoff = now - self.stuck_for
        if row.status is not InstanceStatus.RUNNING:
            return False
        if row.next_due is None:
            return row.updated_at <= cutoff
        return row.next_due <= cutoff

    def matches(self, row: InstanceRow, now: datetime) -> bool:
        """Every filter but the paging, for stores that filter rows in Python."""
        if self.status is not None and row.status is not self.status:
            return False
        if self.state is not None:
            machine, state = self.state
            if state not in row.states.get(machine, {}).values():
                return False
        if self.updated_before is not None and row.updated_at >= self.updated_before:
            return False
        return self.is_stuck(row, now)


def updated_row(
    category: str, key: str, current: InstanceRow | None, update: InstanceUpdate
) -> InstanceRow:
    """The row ``update`` leaves (``next_due`` None: it is read from the work index).

    ``current`` is the row before; it must exist unless ``update`` is whole
    (see ``InstanceUpdate``). What the SQL stores' statements do, for the
    stores that keep rows in Python.
    """
    if update.created_at is not None:
        created_at, states, failure = update.created_at, {}, update.last_failure
    elif current is not None:
        created_at = current.created_at
        states = {machine: dict(ids) for machine, ids in current.states.items()}
        failure = update.last_failure or current.last_failure
    else:
        raise ValueError(f"no instance row of {category}/{key} to update")
    for machine, machine_id, state in update.states:
        states.setdefault(machine, {})[machine_id] = state
    return InstanceRow(
        category=category,
        key=key,
        status=update.status,
        states=sorted_states(states),
        version=update.version,
        created_at=created_at,
        updated_at=update.updated_at,
        next_due=None,
        last_failure=failure,
        end_reason=update.end_reason,
    )


def sorted_states(states: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    """``states`` read-only, machines and machine ids in order: every store lists them alike."""
    return frozen_map(
        {machine: frozen_map(dict(sorted(states[machine].items()))) for machine in sorted(states)}
    )


# ---- computed from folded states ---------------------------------------------------


def instance_update(
    before: ProcessState, decisions: Sequence[Decided], now: datetime
) -> InstanceUpdate:
    """The index change of an append at ``now`` of ``decisions`` on ``before``.

    Each decision's events are judged on the state it was decided on, as a
    rebuild judges each event on the state before it: a failure batched
    after the outcome that ended the process is late, live as rebuilt.
    """
    after = decisions[-1][1]
    new = before.version == 0
    failure = None
    decided_on = before
    for events, decided in decisions:
        failure = _decision_failure(decided_on, decided, events, now) or failure
        decided_on = decided
    return InstanceUpdate(
        status=status_of(after),
        version=after.version,
        updated_at=now,
        states=state_rows(after) if new else changed_states(before, after),
        last_failure=failure,
        end_reason=after.end_reason,
        created_at=now if new else None,
    )


def _decision_failure(
    before: ProcessState, after: ProcessState, events: Sequence[Event], at: datetime
) -> Failure | None:
    """The failure one decision's ``events``, moving ``before`` to ``after``, record."""
    # A process that had ended takes no outcome: any is late.
    if before.end is not None:
        return None
    return last_failure(events, _in_flight(before, after, events), at)


def rebuilt_update(
    fold: Sequence[tuple[ProcessState, Event, datetime]], final: ProcessState
) -> InstanceUpdate:
    """The whole row of a stream, from each of its events with the state it was recorded on.

    ``fold``: (state before the event, the event, its time), in order, at
    least one; ``final``: the state after the last. What the live appends of
    those events wrote, one after the other.
    """
    failure = None
    for before, event, at in fold:
        if before.end is None:
            failure = last_failure([event], before.tasks, at) or failure
    return InstanceUpdate(
        status=status_of(final),
        version=final.version,
        updated_at=fold[-1][2],
        states=state_rows(final),
        last_failure=failure,
        end_reason=final.end_reason,
        created_at=fold[0][2],
    )


def state_rows(state: ProcessState) -> tuple[StateRow, ...]:
    return tuple(
        (machine, machine_id, name)
        for machine, ids in state.instances.items()
        for machine_id, name in ids.items()
    )


def changed_states(before: ProcessState, after: ProcessState) -> tuple[StateRow, ...]:
    if before.instances is after.instances:
        return ()
    changed: list[StateRow] = []
    for machine, ids in after.instances.items():
        old = before.instances.get(machine)
        if old is ids:
            continue
        old = old or {}
        changed.extend((machine, i, name) for i, name in ids.items() if old.get(i) != name)
    return tuple(changed)


def last_failure(
    events: Sequence[Event], tasks: Mapping[UUID, TaskInFlight], at: datetime
) -> Failure | None:
    """The last failed or timed-out attempt among ``events`` of a task in ``tasks``."""
    found = None
    for event in events:
        if isinstance(event, TaskFailedBase):
            reason = event.reason
        elif isinstance(event, TaskTimedOutBase):
            reason = f"attempt {event.attempt} timed out"
        else:
            continue
        task = tasks.get(event.task_id)
        # An outcome of an attempt other than the current one is late.
        if task is not None and task.attempt == event.attempt:
            found = Failure(task.task, task.machine, task.machine_id, event.attempt, reason, at)
    return found


def _in_flight(
    before: ProcessState, after: ProcessState, events: Sequence[Event]
) -> Mapping[UUID, TaskInFlight]:
    """The tasks an append's failures may name: those in flight before it.

    With those still in flight after it, for a batch that planned a task and
    recorded a failed attempt of it (each is its own append in the runtime:
    the plan, the attempt's start, its outcome). A task planned and failed
    for good within one append would go unnamed, live as in a rebuild.
    """
    if not any(isinstance(event, TaskFailedBase | TaskTimedOutBase) for event in events):
        return before.tasks
    return {**after.tasks, **before.tasks}
