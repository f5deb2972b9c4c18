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
derived from it, the action's kind, the process and the key
(``contract.operator_id``): repeating it records nothing again
(``ActionResult.deduplicated``), even once the first has ended the process.
The same id given to the same kind of action on another target (another
task, timer, instance or state) is refused, never reported as recorded.
Without an id, every call is a new action. See ``docs/operations.md``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime import contract
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.lifecycle import (
    TaskCompletedBase,
    TaskFailedBase,
    TaskTimedOutBase,
    TimerScheduledBase,
    TransitionPlannedBase,
)
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operator import (
    OperatorCancelledBase,
    OperatorEventBase,
    OperatorFiredTimerBase,
    OperatorMovedBase,
    OperatorRetriedBase,
)
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


@dataclass(frozen=True, slots=True)
class _Request:
    """What an action asks for, as an operator names it: compared with what an
    action recorded under the same id. ``machine_id`` None: whichever instance
    the action found (a single-instance machine, or the only candidate)."""

    action: Action
    subject: str | None = None  # the task, timer transition or machine
    machine_id: str | None = None
    to_state: str | None = None

    def covers(self, recorded: _Request) -> bool:
        return (
            self.action == recorded.action
            and self.subject == recorded.subject
            and self.machine_id in (None, recorded.machine_id)
            and self.to_state == recorded.to_state
        )

    def text(self) -> str:
        words: list[str] = [self.action]
        if self.subject is not None:
            words.append(f"`{self.subject}`")
        if self.machine_id is not None:
            words.append(f"of {self.machine_id!r}")
        if self.to_state is not None:
            words.append(f"to `{self.to_state}`")
        return " ".join(words)


def action_event_id(action: Action, category: str, key: str, action_id: str | None) -> uuid.UUID:
    """The id an action is recorded under: derived from its id, or fresh without one."""
    if action_id is None:
        return uuid.uuid4()
    return contract.operator_id(action, category, key, action_id)


# What builds an action's event from the state of a running process it is
# checked on (raises OperationRefused).
Build = Callable[[ProcessState], OperatorEventBase]


def cancel(manager: ProcessManager, key: KeyValue, actor: Actor) -> ActionResult:
    """Cancel the process: ``OperatorCancelled``, then ``ProcessCancelled``."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        return definition.operator_events.cancelled(by=actor.by, reason=actor.reason)

    return _act(manager, _Request("cancel"), stream, actor, build)


def retry(
    manager: ProcessManager, key: KeyValue, task: str, machine_id: str | None, actor: Actor
) -> ActionResult:
    """Run ``task``'s next attempt now (see ``OperatorRetriedBase`` for which tasks)."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        _require_known(definition, "task", task, definition.tasks, "its tasks")
        history = manager.history(stream)
        now = manager.store.now()
        # Every instance's candidates, of both kinds: another instance
        # running the task does not hide one that waits or failed for good.
        waiting = _retries_waiting(state, task, machine_id, now)
        failed = _failed_for_good(definition, state, history, task, machine_id)
        candidates = [
            *((t.machine_id, _retried_waiting(definition, actor, t)) for t in waiting),
            *((f.planned.machine_id, _retried_failed(definition, actor, f)) for f in failed),
        ]
        if not candidates:
            raise OperationRefused(
                _nothing_to_retry(definition, stream, state, task, machine_id, now)
            )
        return _only_one(
            [event for _, event in candidates],
            [instance for instance, _ in candidates],
            f"{definition.category} {stream}: task `{task}` can be retried",
        )

    return _act(manager, _Request("retry", task, machine_id), stream, actor, build)


def fire(
    manager: ProcessManager, key: KeyValue, transition: str, machine_id: str | None, actor: Actor
) -> ActionResult:
    """Fire the pending timer of ``transition`` now: its ``TimerFired`` and its transition."""
    definition = manager.definition
    stream = _stream(definition, key)

    def build(state: ProcessState) -> OperatorEventBase:
        _require_known(
            definition,
            "timer",
            transition,
            _timer_transitions(definition),
            "its timed transitions",
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

    return _act(manager, _Request("fire", transition, machine_id), stream, actor, build)


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

    return _act(manager, _Request("move", machine, machine_id, to_state), stream, actor, build)


# ---- recording ---------------------------------------------------------------------------


def _act(
    manager: ProcessManager, request: _Request, stream: str, actor: Actor, build: Build
) -> ActionResult:
    """Check and record an action on the stream's current state, again if it moved meanwhile."""
    _require_actor(actor)
    definition = manager.definition
    event_id = action_event_id(request.action, definition.category, stream, actor.action_id)
    for _ in range(MAX_CONFLICTS + 1):
        state = manager.state(stream)
        if actor.action_id is not None:
            # Checked first: a repeated action may have made itself
            # inapplicable (a second cancel), which is no refusal.
            repeated = _repeated(manager, request, stream, actor.action_id, event_id, state)
            if repeated is not None:
                return repeated
        _require_running(definition, stream, state)
        event = _storable(build(state))
        result = manager.record(stream, event, event_id, _unchanged_since(state.version))
        if result.status is HandleStatus.DEDUPLICATED:
            continue  # recorded meanwhile by the same action: compared on the next round
        if result.status is not HandleStatus.STALE:
            return _result(request.action, result, event)
    raise ConflictRetriesExhausted(definition.category, stream, MAX_CONFLICTS + 1)


def _repeated(
    manager: ProcessManager,
    request: _Request,
    stream: str,
    action_id: str,
    event_id: uuid.UUID,
    state: ProcessState,
) -> ActionResult | None:
    """The result of an action whose id was recorded before; None if it was not.

    Refused if what was recorded under the id is not what is asked now.
    """
    history = manager.history(stream)
    recorded = next((stored.event for stored in history if stored.event_id == event_id), None)
    if recorded is None:
        return None
    done = _recorded_request(recorded, history)
    if not request.covers(done):
        raise OperationRefused(
            f"action id {action_id!r} was used for {done.text()} of"
            f" {manager.definition.category} {stream}, not {request.text()}:"
            " give this action another id"
        )
    return _result(request.action, _deduplicated(manager.definition, stream, event_id, state))


def _recorded_request(event: Event, history: Sequence[StoredEvent]) -> _Request:
    """What the operator event ``event`` of the stream ``history`` asked for."""
    if isinstance(event, OperatorMovedBase):
        return _Request("move", event.machine, event.machine_id, event.to_state)
    if isinstance(event, OperatorRetriedBase):
        # A retry of a task that failed for good carries its planning; a
        # waiting retry names its task by id only.
        planned = event if event.task is not None else _planning(history, event.task_id)
        return _Request("retry", planned.task, planned.machine_id)
    if isinstance(event, OperatorFiredTimerBase):
        # The stream scheduled the timer it fired, before firing it.
        scheduled = next(
            e
            for stored in history
            if isinstance(e := stored.event, TimerScheduledBase) and e.timer_id == event.timer_id
        )
        return _Request("fire", scheduled.transition, scheduled.machine_id)
    if isinstance(event, OperatorCancelledBase):
        return _Request("cancel")
    # Only a hash collision gives another event an operator action's id.
    raise OperationRefused(f"{_stored_name(event)} is no operator action")  # pragma: no cover


def _planning(history: Sequence[StoredEvent], task_id: uuid.UUID) -> TransitionPlannedBase:
    """The transition that planned the task ``task_id``."""
    return next(
        e
        for stored in history
        if isinstance(e := stored.event, TransitionPlannedBase) and e.task_id == task_id
    )


def _unchanged_since(version: int) -> Precondition:
    """The stream is at ``version``, where the action was checked."""

    def check(state: ProcessState) -> bool:
        return state.version == version

    return check


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


def _require_known(
    definition: ProcessDefinition,
    kind: str,
    name: str,
    known: Mapping[str, object] | frozenset[str],
    known_as: str,
) -> None:
    """Refused unless the process has a ``kind`` named ``name`` (``known``, called ``known_as``)."""
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise OperationRefused(
            f"{definition.category} has no {kind} `{name}` ({known_as}: {names})"
        )


def _retries_waiting(
    state: ProcessState, task: str, machine_id: str | None, now: datetime
) -> list[TaskInFlight]:
    """The task's retries waiting for a ``not_before`` later than ``now``.

    A retry already due waits for a worker, not for its time: retrying it
    would change nothing.
    """
    return [
        t
        for t in _in_flight(state, task, machine_id)
        if t.status == TaskStatus.RETRY_SCHEDULED
        and t.not_before is not None
        and t.not_before > now
    ]


def _in_flight(state: ProcessState, task: str, machine_id: str | None) -> list[TaskInFlight]:
    return [
        t for t in state.tasks.values() if t.task == task and machine_id in (None, t.machine_id)
    ]


def _retried_waiting(
    definition: ProcessDefinition, actor: Actor, waiting: TaskInFlight
) -> OperatorRetriedBase:
    """Make a waiting retry due now."""
    return definition.operator_events.retried(
        by=actor.by, reason=actor.reason, task_id=waiting.task_id, attempt=waiting.attempt
    )


def _retried_failed(
    definition: ProcessDefinition, actor: Actor, failed: _Failed
) -> OperatorRetriedBase:
    """Put a task that failed for good back in flight, planned as before."""
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


def _nothing_to_retry(
    definition: ProcessDefinition,
    stream: str,
    state: ProcessState,
    task: str,
    machine_id: str | None,
    now: datetime,
) -> str:
    """Why ``task`` has nothing to retry: the first attempt in flight, or no failure to retry."""
    where = f"{definition.category} {stream}: task `{task}`"
    for t in _in_flight(state, task, machine_id):
        of = f"{where} of {t.machine} {t.machine_id}"
        if t.status == TaskStatus.RETRY_SCHEDULED and (t.not_before is None or t.not_before <= now):
            return f"{of}: attempt {t.attempt} is already due: nothing to retry"
        return f"{of} is {t.status.replace('_', ' ')} (attempt {t.attempt}): nothing to retry"
    return (
        f"{definition.category} {stream}: nothing to retry: task `{task}`"
        f"{_instance_text(machine_id)} has no retry waiting, and no attempt that failed for"
        f" good while its instance still waits in a state that takes `{task} completed`"
    )


@dataclass(frozen=True, slots=True)
class _Failed:
    """A task that failed for good, and the transition that planned it."""

    planned: TransitionPlannedBase
    task_id: uuid.UUID
    last_attempt: int


def _failed_for_good(
    definition: ProcessDefinition,
    state: ProcessState,
    history: Sequence[StoredEvent],
    task: str,
    machine_id: str | None,
) -> list[_Failed]:
    """The tasks that failed for good while their instance waits where it can take their outcome.

    The latest planning of ``task`` for an instance qualifies if no attempt
    of it completed and its last attempt failed or timed out for good (it is
    not in flight), the instance has left the state that planning entered
    only by self-loops or transitions that keep the task (no operator move),
    and the state it is in now has a transition on ``<task> completed``.
    """
    return [
        failed
        for failed in _failures(history, task)
        if machine_id in (None, failed.planned.machine_id)
        and failed.task_id not in state.tasks
        and _takes_outcome(definition, state, failed.planned)
    ]


def _failures(history: Sequence[StoredEvent], task: str) -> list[_Failed]:
    """Per instance, the latest planning of ``task`` whose instance has not left its
    task behind since (no transition without ``keep``, no operator move), if no
    attempt of it completed and one failed (``history``: the stream's stored events)."""
    planned: dict[tuple[str, str], TransitionPlannedBase] = {}
    attempts: dict[uuid.UUID, int] = {}
    completed: set[uuid.UUID] = set()
    failed: set[uuid.UUID] = set()
    for stored in history:
        event = stored.event
        if isinstance(event, TransitionPlannedBase | OperatorMovedBase):
            instance = (event.machine, event.machine_id)
            if _leaves_task(event, planned.get(instance)):
                planned.pop(instance, None)
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


def _leaves_task(
    event: TransitionPlannedBase | OperatorMovedBase, planned: TransitionPlannedBase | None
) -> bool:
    """``event`` leaves its instance's state without keeping the task ``planned`` planned."""
    if isinstance(event, OperatorMovedBase):
        return True  # a move abandons every task of the instance
    if str(event.from_state) == str(event.to_state):
        return False
    return planned is None or planned.task_id not in (event.kept_tasks or ())


def _takes_outcome(
    definition: ProcessDefinition, state: ProcessState, planned: TransitionPlannedBase
) -> bool:
    """The planning's instance is in a state with a transition on the task's ``completed``."""
    current = state.state_of(planned.machine, planned.machine_id)
    return (
        current is not None
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
