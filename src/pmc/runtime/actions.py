"""Operator actions: cancel a process, retry a task, fire a timer, move a machine instance.

Each action is checked on the stream's current state, then recorded as an
operator event (``pmc.runtime.operator``) through the recorder's
decide/append path, like any lifecycle event: the engine decides what
follows, the append checks the stream's version, and the work index changes
in the same transition. The action is recorded on exactly the state it was
checked on (a precondition on the version): if a worker or another operator
moved the stream meanwhile, the action is checked and decided again on the
new state, and refused if it no longer applies.

An action given an id (``action_id``, ``--id``) is recorded under an event id
derived from it, the process and the key: repeating it records nothing
again (``ActionResult.deduplicated``), even once the first has ended the
process. Without one, every call is a new action. See
``docs/operations-actions.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime import contract
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.lifecycle import (
    TaskCompletedBase,
    TaskFailedBase,
    TaskTimedOutBase,
    TransitionPlannedBase,
)
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operator import OperatorEventBase, OperatorMovedBase
from pmc.runtime.preconditions import Precondition
from pmc.runtime.recorder import MAX_CONFLICTS, ConflictRetriesExhausted
from pmc.runtime.results import HandleResult, HandleStatus
from pmc.runtime.state import KeyValue, ProcessState, TaskInFlight, TaskStatus
from pmc.runtime.stores.api import StoredEvent, check_event, check_stream

Action = Literal["cancel", "retry", "fire", "move"]


class OperationRefused(PmcError):
    """An operator action that does not apply to the process as it is; nothing was recorded."""


@dataclass(frozen=True, slots=True)
class RecordedAction:
    """One event an action recorded: its stored name, id and payload."""

    name: str
    event_id: uuid.UUID
    payload: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"event": self.name, "event_id": str(self.event_id), "payload": dict(self.payload)}


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action recorded: the operator event, then what the engine decided on it.

    ``deduplicated``: the action's id was recorded before, and nothing was
    recorded now (``events`` is empty). ``version`` is the stream's version
    afterwards.
    """

    action: Action
    category: str
    key: str
    event_id: uuid.UUID
    deduplicated: bool
    events: tuple[RecordedAction, ...]
    version: int

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "category": self.category,
            "key": self.key,
            "event_id": str(self.event_id),
            "deduplicated": self.deduplicated,
            "version": self.version,
            "events": [event.to_json() for event in self.events],
        }


@dataclass(frozen=True, slots=True)
class Actor:
    """Who takes an action and why, and its id (None: a new action each time)."""

    by: str
    reason: str
    action_id: str | None = None


def action_event_id(category: str, key: str, action_id: str | None) -> uuid.UUID:
    """The id an action is recorded under: derived from its id, or fresh without one."""
    if action_id is None:
        return uuid.uuid4()
    return contract.runtime_id("operator", category, key, action_id)


# What builds an action's event from the state of a running process it is
# checked on (raises OperationRefused).
Build = Callable[[ProcessState], OperatorEventBase]


def cancel(manager: ProcessManager, key: KeyValue, actor: Actor) -> ActionResult:
    """Cancel the process: ``OperatorCancelled``, then ``ProcessCancelled``."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        return definition.operator_events.cancelled(by=actor.by, reason=actor.reason)

    return _act(manager, "cancel", stream, actor, build)


def retry(
    manager: ProcessManager, key: KeyValue, task: str, machine_id: str | None, actor: Actor
) -> ActionResult:
    """Run ``task``'s next attempt now (see ``OperatorRetriedBase`` for which tasks)."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        if task not in definition.tasks:
            known = ", ".join(sorted(definition.tasks)) or "none"
            raise OperationRefused(
                f"{definition.category} has no task `{task}` (its tasks: {known})"
            )
        waiting = _retry_waiting(definition, stream, state, task, machine_id)
        if waiting is not None:
            return definition.operator_events.retried(
                by=actor.by, reason=actor.reason, task_id=waiting.task_id, attempt=waiting.attempt
            )
        failed = _failed_for_good(definition, stream, state, task, machine_id, manager)
        return definition.operator_events.retried(
            by=actor.by,
            reason=actor.reason,
            task_id=failed.task_id,
            attempt=failed.last_attempt + 1,
            task=failed.planned.task,
            task_mode=failed.planned.task_mode,
            machine=failed.planned.machine,
            machine_id=failed.planned.machine_id,
            transition=failed.planned.transition,
            task_input=failed.planned.task_input,
        )

    return _act(manager, "retry", stream, actor, build)


def fire(
    manager: ProcessManager, key: KeyValue, transition: str, machine_id: str | None, actor: Actor
) -> ActionResult:
    """Fire the pending timer of ``transition`` now: its ``TimerFired`` and its transition."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        if transition not in _timer_transitions(definition):
            known = ", ".join(sorted(_timer_transitions(definition))) or "none"
            raise OperationRefused(
                f"{definition.category} has no timer `{transition}`"
                f" (its timed transitions: {known})"
            )
        pending = [
            timer
            for timer in state.timers.values()
            if timer.transition == transition and machine_id in (None, timer.machine_id)
        ]
        where = _instance_text(machine_id)
        if not pending:
            raise OperationRefused(
                f"{definition.category} {stream}: no pending timer `{transition}`{where}"
                f" (pending: {_timers_text(state)})"
            )
        timer = _only_one(
            pending,
            [timer.machine_id for timer in pending],
            f"{definition.category} {stream}: timer `{transition}` is pending",
        )
        return definition.operator_events.fired_timer(
            by=actor.by, reason=actor.reason, timer_id=timer.timer_id
        )

    return _act(manager, "fire", stream, actor, build)


def move(
    manager: ProcessManager,
    key: KeyValue,
    machine: str,
    machine_id: str | None,
    to_state: str,
    actor: Actor,
) -> ActionResult:
    """Put a machine instance in ``to_state`` (see ``OperatorMovedBase``)."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        machines = {spec.name: spec for spec in definition.machines}
        if machine not in machines:
            known = ", ".join(machines)
            raise OperationRefused(
                f"{definition.category} has no machine `{machine}` (its machines: {known})"
            )
        spec = machines[machine]
        instance = machine_id if machine_id is not None else machine
        if machine_id is None and spec.multi_instance:
            raise OperationRefused(
                f"machine `{machine}` has many instances: name one (machine_id)"
                f" of {_ids_text(state, machine)}"
            )
        current = state.state_of(machine, instance)
        if current is None:
            raise OperationRefused(
                f"{definition.category} {stream}: machine `{machine}` has no instance"
                f" {instance!r} (instances: {_ids_text(state, machine)})"
            )
        states = [str(s) for s in spec.states]
        if to_state not in states:
            raise OperationRefused(
                f"machine `{machine}` has no state `{to_state}` (its states: {', '.join(states)})"
            )
        if current in spec.final:
            raise OperationRefused(
                f"{definition.category} {stream}: {_named(spec.multi_instance, machine, instance)}"
                f" is in `{current}`, a final state: it is never left"
            )
        if current == to_state:
            raise OperationRefused(
                f"{definition.category} {stream}: {_named(spec.multi_instance, machine, instance)}"
                f" is in `{current}` already"
            )
        return definition.operator_events.moved(
            by=actor.by,
            reason=actor.reason,
            machine=machine,
            machine_id=instance,
            from_state=current,
            to_state=to_state,
        )

    return _act(manager, "move", stream, actor, build)


# ---- recording ---------------------------------------------------------------------------


def _act(
    manager: ProcessManager, action: Action, stream: str, actor: Actor, build: Build
) -> ActionResult:
    """Check and record an action on the stream's current state, again if it moved meanwhile."""
    _require_actor(actor)
    definition = manager.definition
    event_id = action_event_id(definition.category, stream, actor.action_id)
    for _ in range(MAX_CONFLICTS + 1):
        state = manager.state(stream)
        try:
            _require_running(definition, stream, state)
            event = _storable(build(state))
        except OperationRefused:
            # A repeated action may have made itself inapplicable (a second
            # cancel): it is a duplicate, not a refusal.
            if actor.action_id is not None and _recorded(manager, stream, event_id):
                return _result(action, _deduplicated(definition, stream, event_id, state))
            raise
        result = manager.record(stream, event, event_id, _unchanged_since(state.version))
        if result.status is not HandleStatus.STALE:
            return _result(action, result, event)
    raise ConflictRetriesExhausted(definition.category, stream, MAX_CONFLICTS + 1)


def _unchanged_since(version: int) -> Precondition:
    """The stream is at ``version``, where the action was checked."""

    def check(state: ProcessState) -> bool:
        return state.version == version

    return check


def _recorded(manager: ProcessManager, stream: str, event_id: uuid.UUID) -> bool:
    return any(stored.event_id == event_id for stored in manager.history(stream))


def _deduplicated(
    definition: ProcessDefinition, stream: str, event_id: uuid.UUID, state: ProcessState
) -> HandleResult:
    return HandleResult(HandleStatus.DEDUPLICATED, definition.category, stream, event_id, state)


def _result(action: Action, result: HandleResult, event: Event | None = None) -> ActionResult:
    """The action's result; ``event``: the operator event, if this call recorded it."""
    recorded: list[tuple[uuid.UUID, Event]] = []
    if event is not None and result.recorded:
        recorded = [(result.event_id, event), *_decision_ids(result)]
    return ActionResult(
        action=action,
        category=result.category,
        key=result.key,
        event_id=result.event_id,
        deduplicated=result.status is HandleStatus.DEDUPLICATED,
        events=tuple(
            RecordedAction(_stored_name(e), event_id, e.model_dump(mode="json"))
            for event_id, e in recorded
        ),
        version=result.version,
    )


def _decision_ids(result: HandleResult) -> list[tuple[uuid.UUID, Event]]:
    return [
        (contract.decision_id(result.event_id, index), decided)
        for index, decided in enumerate(result.decisions)
    ]


def _stored_name(event: Event) -> str:
    name = getattr(type(event), "__event_name__", None)
    return name if isinstance(name, str) and name else type(event).__qualname__


# ---- checks ------------------------------------------------------------------------------


def _stream(definition: ProcessDefinition, key: KeyValue) -> str:
    """The stream of ``key``; a key of the wrong type or that no store can hold is refused."""
    try:
        stream = definition.stream_key(key)
        check_stream(definition.category, stream)
    except (TypeError, ValueError) as error:
        raise OperationRefused(str(error)) from None
    return stream


def _storable(event: OperatorEventBase) -> OperatorEventBase:
    """``event``, if every store can hold its text (``by``, ``reason``)."""
    try:
        check_event(event)
    except ValueError as error:
        raise OperationRefused(str(error)) from None
    return event


def _require_actor(actor: Actor) -> None:
    if not actor.by.strip():
        raise OperationRefused("an operator action needs who takes it (by)")
    if not actor.reason.strip():
        raise OperationRefused("an operator action needs a reason: it is recorded in the stream")
    if actor.action_id is not None and not actor.action_id:
        raise OperationRefused("an action id must not be empty (leave it out for a new action)")


def _require_running(definition: ProcessDefinition, stream: str, state: ProcessState) -> None:
    if not state.started:
        raise OperationRefused(f"no {definition.category} process has the key {stream!r}")
    if state.end is not None:
        why = f": {state.end_reason}" if state.end_reason else ""
        raise OperationRefused(
            f"{definition.category} {stream} has ended ({state.end}{why}): no action applies to it"
        )


def _retry_waiting(
    definition: ProcessDefinition,
    stream: str,
    state: ProcessState,
    task: str,
    machine_id: str | None,
) -> TaskInFlight | None:
    """The task's retry waiting for its ``not_before``; None if it has none in flight.

    Refused if the task is in flight but not waiting (planned, running), or
    waits for several instances and ``machine_id`` does not say which.
    """
    in_flight = [
        t for t in state.tasks.values() if t.task == task and machine_id in (None, t.machine_id)
    ]
    if not in_flight:
        return None
    waiting = [t for t in in_flight if t.status == TaskStatus.RETRY_SCHEDULED]
    if not waiting:
        first = in_flight[0]
        raise OperationRefused(
            f"{definition.category} {stream}: task `{task}` of {first.machine} {first.machine_id}"
            f" is {first.status.replace('_', ' ')} (attempt {first.attempt}): nothing to retry"
        )
    return _only_one(
        waiting,
        [t.machine_id for t in waiting],
        f"{definition.category} {stream}: task `{task}` waits to retry",
    )


@dataclass(frozen=True, slots=True)
class _Failed:
    """A task that failed for good, and the transition that planned it."""

    planned: TransitionPlannedBase
    task_id: uuid.UUID
    last_attempt: int


def _failed_for_good(
    definition: ProcessDefinition,
    stream: str,
    state: ProcessState,
    task: str,
    machine_id: str | None,
    manager: ProcessManager,
) -> _Failed:
    """The task that failed for good while its instance still waits where it can take its outcome.

    The latest planning of ``task`` for an instance qualifies if no attempt
    of it completed and its last attempt failed or timed out for good (it is
    not in flight), the instance has not left the state that planning
    entered (only self-loops since, no operator move), and that state has a
    transition on ``<task> completed``.
    """
    found = [
        failed
        for failed in _failures(manager.history(stream), task)
        if machine_id in (None, failed.planned.machine_id)
        and failed.task_id not in state.tasks
        and _takes_outcome(definition, state, failed.planned)
    ]
    if not found:
        where = _instance_text(machine_id)
        raise OperationRefused(
            f"{definition.category} {stream}: nothing to retry: task `{task}`{where} has no"
            " retry waiting, and no attempt that failed for good while its instance still"
            f" waits in a state that takes `{task} completed`"
        )
    return _only_one(
        found,
        [failed.planned.machine_id for failed in found],
        f"{definition.category} {stream}: task `{task}` failed for good",
    )


def _failures(history: Sequence[StoredEvent], task: str) -> list[_Failed]:
    """Per instance, the latest planning of ``task`` whose instance has not left the
    state it entered since, if no attempt of it completed and one failed
    (``history``: the stream's stored events)."""
    planned: dict[tuple[str, str], TransitionPlannedBase] = {}
    attempts: dict[uuid.UUID, int] = {}
    completed: set[uuid.UUID] = set()
    failed: set[uuid.UUID] = set()
    for stored in history:
        event = stored.event
        if isinstance(event, TransitionPlannedBase | OperatorMovedBase):
            instance = (event.machine, event.machine_id)
            if str(event.from_state) != str(event.to_state) or isinstance(event, OperatorMovedBase):
                planned.pop(instance, None)  # it left the state the task was planned for
            if isinstance(event, TransitionPlannedBase) and event.task == task:
                planned[instance] = event
        task_id = getattr(event, "task_id", None)
        attempt = getattr(event, "attempt", None)
        if isinstance(task_id, uuid.UUID) and isinstance(attempt, int):
            attempts[task_id] = max(attempts.get(task_id, 0), attempt)
        if isinstance(event, TaskCompletedBase):
            completed.add(event.task_id)
        elif isinstance(event, TaskFailedBase | TaskTimedOutBase):
            failed.add(event.task_id)
    return [
        _Failed(event, event.task_id, attempts[event.task_id])
        for event in planned.values()
        if event.task_id is not None and event.task_id in failed and event.task_id not in completed
    ]


def _takes_outcome(
    definition: ProcessDefinition, state: ProcessState, planned: TransitionPlannedBase
) -> bool:
    """The planning's instance is still in the state it entered, and that state
    has a transition on the task's ``completed``."""
    current = state.state_of(planned.machine, planned.machine_id)
    return (
        current == str(planned.to_state)
        and planned.task is not None
        and definition.transition(
            planned.machine, current, contract.on_outcome(planned.task, "completed")
        )
        is not None
    )


def _timer_transitions(definition: ProcessDefinition) -> frozenset[str]:
    own = (timer.transition for timers in definition.timers.values() for timer in timers)
    wild = (timer.transition for timers in definition.wildcard_timers.values() for timer in timers)
    return frozenset((*own, *wild))


_T = TypeVar("_T")


def _only_one(found: Sequence[_T], machine_ids: Sequence[str], what: str) -> _T:
    """The one item of ``found`` (not empty); several: refused, naming their instances."""
    if len(found) > 1:
        ids = ", ".join(sorted(machine_ids))
        raise OperationRefused(f"{what} for several instances ({ids}): name one (machine_id)")
    return found[0]


# ---- messages ------------------------------------------------------------------------------


def _instance_text(machine_id: str | None) -> str:
    return "" if machine_id is None else f" for instance {machine_id!r}"


def _named(multi_instance: bool, machine: str, machine_id: str) -> str:
    # A single instance goes by its machine's name: say it once.
    return f"{machine} {machine_id!r}" if multi_instance else machine


def _ids_text(state: ProcessState, machine: str) -> str:
    ids = list(state.instances.get(machine, {}))
    return ", ".join(repr(i) for i in ids) if ids else "none yet"


def _timers_text(state: ProcessState) -> str:
    pending = sorted(
        f"`{t.transition}` of {t.machine} {t.machine_id!r} due {t.due_at.isoformat()}"
        for t in state.timers.values()
    )
    return "; ".join(pending) if pending else "none"
