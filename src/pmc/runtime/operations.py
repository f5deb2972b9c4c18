"""What an operator asks of a process's instances: find them, look into one, rebuild the index.

``Operations(definition, store)`` answers in plain frozen dataclasses with
``to_json()``, which the CLI prints (``pmc ps``, ``pmc show``) and which a web
page or a JSON view can serve as they are: nothing here prints, and nothing
reads the store's tables but through ``ProcessStore``.

Lists come from the instance index (``pmc.runtime.instances``); a
description is folded from the stream itself, so it is what replay sees.

The operator actions (``cancel``, ``retry``, ``fire``, ``move``) live in
``actions``: each is recorded in the stream as an operator event, through
the same decide/append path as every event, and returns what it recorded
(``ActionResult``, ``to_json()`` too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime import actions
from pmc.runtime.actions import ActionResult, Actor
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.instances import (
    MAX_LIMIT,
    Failure,
    InstanceQuery,
    InstanceRow,
    InstanceStatus,
    InstanceUpdate,
    JsonView,
    rebuilt_update,
    status_of,
    updated_row,
)
from pmc.runtime.manager import ProcessManager
from pmc.runtime.state import KeyValue, ProcessState, TaskInFlight, Timer
from pmc.runtime.stores import event_of
from pmc.runtime.stores.api import (
    JsonValue,
    ProcessStore,
    RecordedEvent,
    VersionConflict,
)

_T = TypeVar("_T")

# How often a rebuild of one stream's row is tried while writers keep moving it.
MAX_REINDEX_TRIES = 100


class UnknownInstance(PmcError, LookupError):
    """No stream of this process has that key."""

    def __init__(self, category: str, key: str) -> None:
        self.category = category
        self.key = key
        super().__init__(f"no {category} instance with key {key!r}")


@dataclass(frozen=True, slots=True)
class InstancePage(JsonView):
    """One page of ``Operations.instances``; ``next_after`` asks for the next (None: last page)."""

    items: tuple[InstanceRow, ...]
    next_after: str | None


@dataclass(frozen=True, slots=True)
class TaskView(JsonView):
    """A task in flight: its current attempt and where it stands."""

    task_id: str
    task: str
    machine: str
    machine_id: str
    transition: str
    attempt: int
    status: str
    not_before: datetime | None
    lease_until: datetime | None
    worker: str | None
    input: JsonValue


@dataclass(frozen=True, slots=True)
class TimerView(JsonView):
    """A pending ``after`` transition and when it is due."""

    timer_id: str
    machine: str
    machine_id: str
    transition: str
    state: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class TimelineEntry(JsonView):
    """An event of the stream as recorded: its version, time, name and JSON payload."""

    version: int
    at: datetime
    event_id: str
    type: str
    payload: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class InstanceDescription(JsonView):
    """One instance as its stream folds, with the stream's events (``timeline``).

    ``tasks`` and ``timers``: the pending work, none once the process ended
    (nothing is started, retried or fired after the end). ``next_due`` comes
    from the work index (None also when the store has no work for it);
    ``indexed``: whether the instance index has its row (a
    stream written before the index has none until ``pmc db reindex``).
    """

    category: str
    key: str
    status: InstanceStatus
    end_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    states: Mapping[str, Mapping[str, str]]
    data: JsonValue
    instance_data: Mapping[str, Mapping[str, JsonValue]]
    tasks: tuple[TaskView, ...]
    timers: tuple[TimerView, ...]
    last_failure: Failure | None
    next_due: datetime | None
    indexed: bool
    timeline: tuple[TimelineEntry, ...]


@dataclass(frozen=True, slots=True)
class ReindexReport(JsonView):
    """What ``Operations.reindex`` did: streams read, rows it created, rows it corrected,
    and the keys of streams it left as they were because writers kept moving them."""

    streams: int
    created: int
    corrected: int
    skipped: tuple[str, ...] = ()


class Operations:
    """An operator's view of one process's instances in ``store``, and the actions
    an operator takes on them.

    Every action takes who takes it (``by``) and why (``reason``), both
    recorded, and an optional ``action_id``: the same id again records
    nothing again. A refused action raises ``actions.OperationRefused`` and
    records nothing.
    """

    def __init__(self, definition: ProcessDefinition, store: ProcessStore) -> None:
        self.definition = definition
        self.store = store
        # Records without running tasks: the workers run what an action plans.
        self._manager = ProcessManager(definition, store)

    @property
    def category(self) -> str:
        return self.definition.category

    def instances(
        self,
        *,
        status: InstanceStatus | str | None = None,
        state: tuple[str, str] | None = None,
        stuck_for: timedelta | None = None,
        updated_before: datetime | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> InstancePage:
        """A page of the instances every given filter selects, by key (see ``InstanceQuery``).

        Unknown statuses, machines and states are a ``ValueError``: a typo
        would otherwise list nothing, as if nothing matched.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        # One row more than asked tells whether another page follows.
        query = InstanceQuery(
            status=None if status is None else _status(status),
            state=None if state is None else self._checked_state(state),
            stuck_for=stuck_for,
            updated_before=updated_before,
            limit=limit + 1,
            after=after,
        )
        rows = self.store.instances(self.category, query)
        page = tuple(rows[:limit])
        return InstancePage(page, page[-1].key if len(rows) > limit else None)

    def has_streams(self) -> bool:
        """Whether the store holds any stream of this process, indexed or not."""
        return bool(self.store.stream_keys(self.category))

    def _checked_state(self, state: tuple[str, str]) -> tuple[str, str]:
        machine, name = state
        machines = {spec.name: spec for spec in self.definition.machines}
        if machine not in machines:
            known = ", ".join(sorted(machines))
            raise ValueError(f"{self.category} has no machine {machine!r} (machines: {known})")
        states = [member.value for member in machines[machine].states]
        if name not in states:
            known = ", ".join(states)
            raise ValueError(f"machine {machine} has no state {name!r} (states: {known})")
        return state

    def describe(self, key: KeyValue) -> InstanceDescription:
        """The instance of ``key`` folded from its stream; ``UnknownInstance`` if it has none."""
        stream = self.definition.stream_key(key)
        # One read serves the timeline (events as stored) and the fold (as classes).
        recorded = self.store.load_recorded(self.category, stream)
        if not recorded:
            raise UnknownInstance(self.category, stream)
        fold, state = self._fold(
            (event_of(self.category, stream, event), event.created_at) for event in recorded
        )
        whole = rebuilt_update(fold, state)
        tasks = _by_id(state.tasks)
        return InstanceDescription(
            category=self.category,
            key=stream,
            status=status_of(state),
            end_reason=state.end_reason,
            version=state.version,
            created_at=recorded[0].created_at,
            updated_at=recorded[-1].created_at,
            states={machine: dict(ids) for machine, ids in state.instances.items()},
            data=_json(state.data.model_dump(mode="json")),
            instance_data={
                machine: {i: _json(record.model_dump(mode="json")) for i, record in ids.items()}
                for machine, ids in state.instance_data.items()
            },
            # Nothing is started, retried or fired after the end: no pending work.
            tasks=() if state.ended else tuple(_task_view(self.definition, t) for t in tasks),
            timers=() if state.ended else tuple(_timer_view(t) for t in _by_id(state.timers)),
            last_failure=whole.last_failure,
            next_due=self.store.next_due(self.category, stream),
            indexed=self.store.instance(self.category, stream) is not None,
            timeline=tuple(_entry(event) for event in recorded),
        )

    def reindex(self) -> ReindexReport:
        """Write every stream's row of the index anew, from the stream alone.

        For streams recorded before the index existed, or an index that
        went wrong. Idempotent; safe while workers run: each row is written
        at the version it was folded at, and folded again if a writer moved
        the stream meanwhile. A stream that writers move every time it is
        folded (``MAX_REINDEX_TRIES`` times) is skipped, and reported: the
        other streams still get their rows.
        """
        created = corrected = 0
        skipped: list[str] = []
        keys = self.store.stream_keys(self.category)
        for key in keys:
            rewritten = self._reindex_stream(key)
            if rewritten is None:
                continue
            if rewritten is _KEPT_MOVING:
                skipped.append(key)
                continue
            old, new = rewritten
            if old is None:
                created += 1
            elif _indexed(old) != new:
                corrected += 1
        return ReindexReport(len(keys), created, corrected, tuple(skipped))

    def cancel(
        self, key: KeyValue, by: str, reason: str, action_id: str | None = None
    ) -> ActionResult:
        """Cancel a running process (``ProcessCancelled``); its work is abandoned."""
        return actions.cancel(self._manager, key, Actor(by, reason, action_id))

    def retry(
        self,
        key: KeyValue,
        task: str,
        machine_id: str | None = None,
        *,
        by: str,
        reason: str,
        action_id: str | None = None,
    ) -> ActionResult:
        """Make the next attempt of ``task`` due now: a retry waiting for its time, or
        a task that failed for good while its instance still waits for its outcome."""
        return actions.retry(self._manager, key, task, machine_id, Actor(by, reason, action_id))

    def fire(
        self,
        key: KeyValue,
        transition: str,
        machine_id: str | None = None,
        *,
        by: str,
        reason: str,
        action_id: str | None = None,
    ) -> ActionResult:
        """Fire the pending timer of the timed transition ``transition`` now."""
        return actions.fire(
            self._manager, key, transition, machine_id, Actor(by, reason, action_id)
        )

    def move(
        self,
        key: KeyValue,
        machine: str,
        machine_id: str | None,
        state: str,
        *,
        by: str,
        reason: str,
        action_id: str | None = None,
    ) -> ActionResult:
        """Put a machine instance in ``state`` (``machine_id`` None: a single-instance machine)."""
        return actions.move(
            self._manager, key, machine, machine_id, state, Actor(by, reason, action_id)
        )

    def _reindex_stream(
        self, key: str
    ) -> tuple[InstanceRow | None, InstanceRow] | _KeptMoving | None:
        """The stream's row before and the row written, None for no stream, or
        ``_KEPT_MOVING`` if writers moved it each time it was folded.

        The row before is read after the stream is loaded, and the append
        succeeds only if no writer moved the stream meanwhile: so it is the
        row of the version folded, and one a racing writer left right is
        not counted as corrected.
        """
        for _ in range(MAX_REINDEX_TRIES):
            stored = self.store.load(self.category, key)
            if not stored:
                return None
            fold, state = self._fold((event.event, event.created_at) for event in stored)
            update: InstanceUpdate = rebuilt_update(fold, state)
            old = self.store.instance(self.category, key)
            try:
                self.store.append(self.category, key, [], state.version, instance=update)
            except VersionConflict:
                continue
            return old, updated_row(self.category, key, None, update)
        return _KEPT_MOVING

    def _fold(
        self, events: Iterable[tuple[Event, datetime]]
    ) -> tuple[list[tuple[ProcessState, Event, datetime]], ProcessState]:
        """Each event with the state it was recorded on, and the state after the last."""
        state = self.definition.initial_state()
        fold: list[tuple[ProcessState, Event, datetime]] = []
        for event, created_at in events:
            fold.append((state, event, created_at))
            state = self.definition.evolve(state, event)
        return fold, state


class _KeptMoving(Enum):
    KEPT_MOVING = "kept moving"


_KEPT_MOVING = _KeptMoving.KEPT_MOVING


def _status(status: InstanceStatus | str) -> InstanceStatus:
    try:
        return InstanceStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in InstanceStatus)
        raise ValueError(f"unknown status {status!r} (statuses: {known})") from None


def _indexed(row: InstanceRow) -> InstanceRow:
    """``row`` without what the index does not store (``next_due``), to compare rows."""
    return replace(row, next_due=None)


def _by_id(items: Mapping[UUID, _T]) -> list[_T]:
    """``items`` in the order of their ids: the same order on every read."""
    return [items[item_id] for item_id in sorted(items, key=str)]


def _task_view(definition: ProcessDefinition, task: TaskInFlight) -> TaskView:
    return TaskView(
        task_id=str(task.task_id),
        task=task.task,
        machine=task.machine,
        machine_id=task.machine_id,
        transition=task.transition,
        attempt=task.attempt,
        status=str(task.status),
        not_before=task.not_before,
        lease_until=task.lease_until,
        worker=task.worker,
        input=_json(definition.task_input(task).model_dump(mode="json")),
    )


def _timer_view(timer: Timer) -> TimerView:
    return TimerView(
        timer_id=str(timer.timer_id),
        machine=timer.machine,
        machine_id=timer.machine_id,
        transition=timer.transition,
        state=timer.state,
        due_at=timer.due_at,
    )


def _entry(event: RecordedEvent) -> TimelineEntry:
    return TimelineEntry(
        version=event.version,
        at=event.created_at,
        event_id=str(event.event_id),
        type=event.name,
        payload=event.payload,
    )


def _json(value: Any) -> JsonValue:
    # pydantic's JSON mode gives JSON values; the annotation says so.
    result: JsonValue = value
    return result
