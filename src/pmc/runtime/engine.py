"""The generic decision engine: ``decide`` and ``evolve`` for any process.

A generated module holds only what differs between processes (tables, the
``route`` match, the functions of its clauses); the algorithm lives here once.

``decide`` never changes state itself. It folds the handled event, then
proposes events one by one, folding each into a working state before the
next, so the decisions it returns are exactly what ``evolve`` will see on
replay. ``evolve`` never calls a generated function: what a guard chose, a
``set`` wrote or a deadline read is in the recorded events. The common case,
an input event that moves one existing instance by a transition without
guard, ``set``, ``emit`` or ``keep`` (a *plain* step), is decided in one go
by ``_plain_input``, folded into one copy of the state, with the same result:
what such a step records but for the event's own values (the templates of
its events, the delays of its timers, the tails of its ids, its task's
name and mode) is worked out once per (machine, state, trigger), when the
definition first meets it (``_Plans._plain``).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar, cast

from event_sourcery import Event
from pydantic import ValidationError

from pmc.errors import PmcError

# The ids, trigger keys and canonical JSON are part of the contract with
# generated modules; they are exported from here too, where they used to be.
from pmc.runtime.contract import (
    ID_NAMESPACE,
    SECOND_EDITION_API,
    AnyIn,
    Binder,
    DataCondition,
    EventMeta,
    Route,
    Scope,
    ScopedBinder,
    TimerSpec,
    TransitionSpec,
    canonical_json,
    decision_id,
    derived_id,
    joined_id,
    on_event,
    on_outcome,
    on_signal,
    on_timer,
    row_specs,
)

# The engine reads a definition through the contract's protocol only, which
# is what keeps ``definition`` (which calls the engine) out of its imports.
from pmc.runtime.contract import DefinitionTables as ProcessDefinition
from pmc.runtime.lifecycle import (
    LifecycleEvent,
    NoData,
    ProcessData,
    SignalPayload,
    SignalRaisedBase,
    TaskCompletedBase,
    TaskFailedBase,
    TaskFailure,
    TaskResult,
    TaskRetryScheduledBase,
    TaskStartedBase,
    TaskTimedOutBase,
    TimerScheduledBase,
    TransitionPlannedBase,
    from_template,
)
from pmc.runtime.operator import (
    OperatorCancelledBase,
    OperatorEventBase,
    OperatorFiredTimerBase,
    OperatorMovedBase,
    OperatorRetriedBase,
)
from pmc.runtime.state import (
    End,
    ProcessState,
    StateChanges,
    TaskInFlight,
    TaskStatus,
    Timer,
    frozen_map,
    with_item,
    without_keys,
)

__all__ = [
    "ID_NAMESPACE",
    "DecisionError",
    "SignalError",
    "canonical_json",
    "decide",
    "decide_and_fold",
    "default_record",
    "derived_id",
    "event_builder",
    "evolve",
    "instance_record",
    "later",
    "on_event",
    "on_outcome",
    "on_timer",
    "with_recorded",
]


class SignalError(PmcError, RuntimeError):
    """A signal the engine cannot handle: one raised by a signal cycle, or unknown."""


class DecisionError(PmcError, RuntimeError):
    """A generated function (a clause of a transition, a deadline, a data
    condition) raised while deciding.

    The message names the process, its key, the instance, the transition and
    the clause, and the original error (type and message). On a lifecycle
    event ``decide`` records ``ProcessFailed`` with that message instead of
    raising; on an input event it reaches the caller, and nothing is recorded.
    """


_T = TypeVar("_T")
_L = TypeVar("_L", bound=LifecycleEvent)


def _described(error: Exception) -> str:
    """The error's type and message; a ValidationError's without its URLs,
    which name the pydantic version, so that the reason a process failed does
    not depend on it."""
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'value'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        return f"ValidationError: {problems}"
    return f"{type(error).__name__}: {error}"


# ---- records (``data``, runtime API 4) -------------------------------------------------


def default_record(model: type[ProcessData] | None) -> ProcessData:
    """A new record: every field at its declared default (``NoData`` where none is declared)."""
    return NoData() if model is None else model()


def with_recorded(record: ProcessData, values: Mapping[str, Any] | None) -> ProcessData:
    """``record`` with the JSON values a ``TransitionPlanned`` recorded for it.

    Validated into the record's own model, the old values as JSON too, the
    way ``decide`` validated them before recording, so a fold rebuilds the
    record ``decide`` built. Raises pydantic's ValidationError for values the
    model no longer takes (``pmc replay``: REPLAY_INVALID_DATA).
    """
    if not values:
        return record
    return type(record).model_validate({**record.model_dump(mode="json"), **values})


def instance_record(
    defn: ProcessDefinition, state: ProcessState, machine: str, machine_id: str
) -> ProcessData:
    """The record of one instance; one not created yet has its machine's defaults."""
    found = state.instance_record(machine, machine_id)
    return found if found is not None else default_record(defn.machine(machine).data)


# ---- evolve --------------------------------------------------------------------


def evolve(defn: ProcessDefinition, state: ProcessState, event: Event) -> ProcessState:
    """Fold one recorded event; events of other processes only bump the version."""
    # One copy of the state per event: ``_apply`` says what changes.
    changes = _apply(defn, state, event)
    changes["version"] = state.version + 1
    return state.changed(**changes)


def _apply(defn: ProcessDefinition, state: ProcessState, event: Event) -> StateChanges:
    lc = defn.lifecycle
    if isinstance(event, defn.events):
        # The first input event names the process instance.
        return {} if state.started else {"key": getattr(event, defn.key_field)}
    if isinstance(event, lc.transition_planned):
        return _fold_transition(defn, state, event)
    if isinstance(event, lc.task_started):
        return _fold_started(state, event)
    if isinstance(event, (lc.task_completed, lc.task_failed, lc.task_timed_out)):
        if not outcome_changes_state(state, event):
            return {}  # a late outcome: recorded, and changes nothing
        if isinstance(event, lc.task_completed):
            return {"tasks": without_keys(state.tasks, frozenset({event.task_id}))}
        permanent = isinstance(event, lc.task_failed) and event.permanent
        return _fold_failed_attempt(defn, state, event.task_id, permanent=permanent)
    if isinstance(event, lc.task_retry_scheduled):
        return _fold_retry(state, event)
    if isinstance(event, lc.timer_scheduled):
        return _fold_timer(state, event)
    if isinstance(event, lc.timer_fired):
        return {"timers": without_keys(state.timers, frozenset({event.timer_id}))}
    if isinstance(event, lc.process_completed):
        return {"end": End.COMPLETED}
    if isinstance(event, lc.process_failed):
        return {"end": End.FAILED, "end_reason": event.reason}
    if isinstance(event, lc.process_cancelled):
        return {"end": End.CANCELLED, "end_reason": event.reason}
    if isinstance(event, OperatorEventBase):
        return _fold_operator(state, event)
    return {}


def _fold_transition(
    defn: ProcessDefinition, state: ProcessState, event: TransitionPlannedBase
) -> StateChanges:
    machine, machine_id = event.machine, event.machine_id
    tasks, timers = state.tasks, state.timers
    # Leaving a state abandons what was started for it: its timers, and the
    # tasks whose outcome it was waiting for (their late outcomes change
    # nothing), but for the tasks the transition keeps. A self-loop does not
    # leave its state.
    if str(event.from_state) != str(event.to_state):
        timers = without_keys(timers, state.timers_of(machine, machine_id))
        if tasks:
            kept = frozenset(event.kept_tasks or ())
            tasks = without_keys(tasks, state.tasks_of(machine, machine_id) - kept)
    changes: StateChanges = {
        "instances": _with_instance_item(state.instances, machine, machine_id, str(event.to_state)),
        "timers": timers,
        "tasks": tasks,
    }
    # A new instance gets its machine's defaults; then the recorded values.
    record = state.instance_record(machine, machine_id)
    if event.instance_set or record is None:
        if record is None:
            record = default_record(defn.machine(machine).data)
        changes["instance_data"] = _with_instance_item(
            state.instance_data, machine, machine_id, with_recorded(record, event.instance_set)
        )
    if event.data_set:
        changes["data"] = with_recorded(state.data, event.data_set)
    if event.task is None or event.task_id is None:
        return changes
    task = _planned_task(event, event.task, event.task_id, machine, machine_id, event.transition)
    changes["tasks"] = with_item(tasks, task.task_id, task)
    return changes


def _planned_task(
    event: TransitionPlannedBase | OperatorRetriedBase,
    task: str,
    task_id: uuid.UUID,
    machine: str,
    machine_id: str,
    transition: str,
) -> TaskInFlight:
    """The task ``event`` plans, from its task fields, at its first attempt."""
    return TaskInFlight(
        task_id=task_id,
        task=task,
        mode=str(event.task_mode),
        machine=machine,
        machine_id=machine_id,
        transition=transition,
        input_json=canonical_json(event.task_input or {}),
    )


def _with_instance_item(
    table: Mapping[str, Mapping[str, _T]], machine: str, machine_id: str, value: _T
) -> Mapping[str, Mapping[str, _T]]:
    """``table`` (machine -> machine id -> value) with one instance's value set."""
    return with_item(table, machine, with_item(table.get(machine, _NONE), machine_id, value))


_NONE: Mapping[str, Any] = frozen_map()


def _fold_started(state: ProcessState, event: TaskStartedBase) -> StateChanges:
    task = state.tasks.get(event.task_id)
    if task is None or task.attempt != event.attempt:
        return {}
    running = replace(
        task, status=TaskStatus.RUNNING, worker=event.worker, lease_until=event.lease_until
    )
    return {"tasks": with_item(state.tasks, running.task_id, running)}


def _fold_failed_attempt(
    defn: ProcessDefinition, state: ProcessState, task_id: uuid.UUID, *, permanent: bool
) -> StateChanges:
    """A failure that counts (see ``outcome_changes_state``) of the current attempt."""
    task = state.tasks[task_id]
    if not permanent and task.attempt < defn.tasks[task.task].max_attempts:
        # Waiting for the TaskRetryScheduled decided with it.
        return {"tasks": with_item(state.tasks, task_id, replace(task, status=TaskStatus.FAILED))}
    return {"tasks": without_keys(state.tasks, frozenset({task_id}))}


def _fold_retry(state: ProcessState, event: TaskRetryScheduledBase) -> StateChanges:
    task = state.tasks.get(event.task_id)
    if task is None or event.attempt != task.attempt + 1:
        return {}
    retry = replace(
        task,
        attempt=event.attempt,
        status=TaskStatus.RETRY_SCHEDULED,
        not_before=event.not_before,
        worker=None,
        lease_until=None,
    )
    return {"tasks": with_item(state.tasks, retry.task_id, retry)}


def _fold_timer(state: ProcessState, event: TimerScheduledBase) -> StateChanges:
    current = state.state_of(event.machine, event.machine_id)
    if current is None:
        return {}
    return {"timers": with_item(state.timers, event.timer_id, _timer(event, current))}


def _timer(event: TimerScheduledBase, state: str) -> Timer:
    """The timer ``event`` schedules for its instance, now in ``state``."""
    # Positional: a third cheaper than by keyword, on every timer scheduled.
    return Timer(
        event.timer_id, event.machine, event.machine_id, event.transition, state, event.due_at
    )


_Held = TypeVar("_Held", TaskInFlight, Timer)


def _without_instance(
    held: Mapping[uuid.UUID, _Held], machine: str, machine_id: str
) -> Mapping[uuid.UUID, _Held]:
    """``held`` without the instance's tasks or timers: ``without_keys`` of
    ``ProcessState.tasks_of`` / ``timers_of``, in one pass over the map."""
    if not held:
        return held
    kept = {
        key: value
        for key, value in held.items()
        if value.machine != machine or value.machine_id != machine_id
    }
    return held if len(kept) == len(held) else MappingProxyType(kept)


def _fold_operator(state: ProcessState, event: OperatorEventBase) -> StateChanges:
    """An operator's action; a cancel or a fire changes nothing until its decisions do."""
    if isinstance(event, OperatorRetriedBase):
        return _fold_operator_retry(state, event)
    if isinstance(event, OperatorMovedBase):
        return _fold_operator_move(state, event)
    return {}


def _fold_operator_retry(state: ProcessState, event: OperatorRetriedBase) -> StateChanges:
    """The task's attempt ``event.attempt`` due now: a retry scheduled without ``not_before``.

    A retry waiting for its time loses its ``not_before``; a task not in
    flight (it failed for good) is planned again from the event's fields.
    Anything else (another attempt owns the task) changes nothing.
    """
    task = state.tasks.get(event.task_id)
    if task is not None:
        if task.status != TaskStatus.RETRY_SCHEDULED or task.attempt != event.attempt:
            return {}
        due = replace(task, not_before=None)
    elif (
        event.task is None
        or event.machine is None
        or event.machine_id is None
        or event.transition is None
    ):
        return {}
    else:
        planned = _planned_task(
            event, event.task, event.task_id, event.machine, event.machine_id, event.transition
        )
        due = replace(planned, attempt=event.attempt, status=TaskStatus.RETRY_SCHEDULED)
    return {"tasks": with_item(state.tasks, due.task_id, due)}


def _fold_operator_move(state: ProcessState, event: OperatorMovedBase) -> StateChanges:
    """The instance leaves its state for ``to_state``: its timers and tasks are abandoned."""
    machine, machine_id = event.machine, event.machine_id
    if state.state_of(machine, machine_id) is None:
        return {}
    return {
        "instances": _with_instance_item(state.instances, machine, machine_id, event.to_state),
        "timers": without_keys(state.timers, state.timers_of(machine, machine_id)),
        "tasks": without_keys(state.tasks, state.tasks_of(machine, machine_id)),
    }


# ---- when an outcome changes state ------------------------------------------------


def outcome_changes_state(
    state: ProcessState, event: TaskCompletedBase | TaskFailedBase | TaskTimedOutBase
) -> bool:
    """Whether a task outcome recorded on ``state`` changes it; if not, it is a late outcome.

    The one rule ``evolve`` and ``decide`` both follow, so a replay agrees
    with what was decided. An outcome counts only while the process runs and
    its task is in flight (``state.tasks``: planned by a transition of the
    state its instance is still in, and not settled yet):

    - ``TaskCompleted`` of the current attempt or of an earlier one (an
      attempt that timed out but did the work after all);
    - ``TaskFailed`` / ``TaskTimedOut`` of the current attempt only, once.

    Anything else is a late outcome: the instance left the state while the
    task ran, the task already completed or failed for good, a later attempt
    owns it, or the process ended. The runtime still records the outcome of
    every attempt that ran (the work happened), and it changes nothing.
    """
    if state.ended:
        return False
    task = state.tasks.get(event.task_id)
    if task is None:
        return False
    if isinstance(event, TaskCompletedBase):
        return event.attempt <= task.attempt
    return event.attempt == task.attempt and task.status != TaskStatus.FAILED


def later(timestamp: datetime, delay: timedelta) -> datetime:
    """``timestamp + delay``, or the last representable time if that is past year 9999."""
    try:
        return timestamp + delay
    except OverflowError:
        return datetime.max.replace(tzinfo=timestamp.tzinfo)


# ---- the lifecycle events a decision records ----------------------------------------

_NIL = uuid.UUID(int=0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a template holds in the fields that differ between events: a value
# every event class with the field takes (optional or not), replaced by the
# event's own.
_PLACEHOLDERS: Mapping[str, object] = {
    "machine_id": "",
    "caused_by": _NIL,
    "task_id": _NIL,
    "task_input": {},
    "data_set": {},
    "instance_set": {},
    "kept_tasks": [],
    "timer_id": _NIL,
    "due_at": _EPOCH,
    "attempt": 1,
    "not_before": _EPOCH,
    "payload": {},
    "reason": "",
}

# The values a decision takes from outside the engine (a generated route or
# ``at``, the caller's ``EventMeta``), with the type validation would leave
# them in. A value of another type is validated the usual way (it may be
# converted, or refused, as before).
_CHECKED: Mapping[str, type] = {
    "machine_id": str,
    "caused_by": uuid.UUID,
    "due_at": datetime,
    "not_before": datetime,
}


class EventBuilder:
    """Builds one definition's lifecycle events without validating each.

    Every event is a copy of a validated template (``lifecycle.from_template``):
    one per class and values of the fields that come from the definition's
    tables (machine, transition, states, task, signal), validated the first
    time they occur, so that a value the event class refuses is refused as
    before. The other fields are the engine's own values, already of the
    types validation gives (see ``_CHECKED`` for the ones it checks).
    """

    def __init__(self) -> None:
        # Keys come from the definition's tables: a bounded set. Each template
        # comes with the checks (``_CHECKED``) of the fields its events take.
        self._templates: dict[tuple[object, ...], tuple[LifecycleEvent, _Checks]] = {}

    @staticmethod
    def key(cls: type[LifecycleEvent], static: Mapping[str, object]) -> tuple[object, ...]:
        """The key of the template of ``cls`` with the table fields ``static``."""
        return (cls, *static.values())

    def event(
        self,
        cls: type[_L],
        static: Mapping[str, object],
        dynamic: Mapping[str, object],
        key: tuple[object, ...] | None = None,
    ) -> _L:
        """``cls(**static, **dynamic)``, as validated (``key``: its ``key``, if known)."""
        if key is None:
            key = self.key(cls, static)
        found = self._templates.get(key)
        if found is None:
            checks = _checks_of(dynamic)
            if not _trusted(checks, dynamic):
                return cls(**static, **dynamic)
            found = self._templates[key] = (_template_of(cls, static, dynamic), checks)
        elif not _trusted(found[1], dynamic):
            return cls(**static, **dynamic)
        return from_template(cast(_L, found[0]), dynamic)

    def template(
        self,
        cls: type[_L],
        static: Mapping[str, object],
        names: Iterable[str],
        key: tuple[object, ...],
    ) -> _L:
        """The template ``event`` copies for ``cls`` with the table fields
        ``static`` (``key``: its ``key``) and the fields ``names``, made now if
        it was not yet; for a caller that checks the values it passes
        (``_CHECKED``) and copies it with ``from_template`` itself. Raises
        pydantic's ValidationError if ``cls`` refuses ``static``."""
        found = self._templates.get(key)
        if found is None:
            names = tuple(names)
            found = self._templates[key] = (_template_of(cls, static, names), _checks_of(names))
        return cast(_L, found[0])


_Checks = tuple[tuple[str, type], ...]


def _checks_of(names: Iterable[str]) -> _Checks:
    """The checks (``_CHECKED``) of the values of the fields ``names``."""
    return tuple((name, kind) for name, kind in _CHECKED.items() if name in names)


def _template_of(
    cls: type[LifecycleEvent], static: Mapping[str, object], names: Iterable[str]
) -> LifecycleEvent:
    """``cls`` with ``static``, and placeholders in the fields ``names``: validated."""
    return cls(**static, **{name: _PLACEHOLDERS[name] for name in names})


def _trusted(checks: _Checks, values: Mapping[str, object]) -> bool:
    # A loop, not ``all`` over a generator: this runs for every event built.
    for name, kind in checks:  # noqa: SIM110
        if type(values[name]) is not kind:
            return False
    return True


# ---- what a definition's decisions look up, worked out once ---------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """What ``trigger`` does to an instance of ``machine`` in ``state``: its row's
    transitions (``moves``, in source order), each with its ``TransitionPlanned``
    fields from the tables, and whether any of them reads a ``Scope``.

    Built once per (machine, state, trigger) of a definition, so a decision
    does no table lookup, wildcard fallback or key building per event.
    """

    moves: tuple[_Move, ...]
    # A guard, binder, ``set`` or ``emit``: only then is a scope built.
    reads: bool
    # The row's one move when it has no guard, ``set``, ``emit`` or ``keep``
    # and its target's timers are all ``after D``: what it records depends
    # on the tables, the ids and the binder alone, so ``_plain_input``
    # decides an input event on it without the generic machinery.
    plain: _Plain | None


@dataclass(frozen=True, slots=True)
class _Plain:
    """A plain step's move, and what ``_plain_input`` would otherwise work out
    per event: nothing here depends on the event."""

    move: _Move
    # The template of its ``TransitionPlanned`` (``EventBuilder.template``).
    planned: TransitionPlannedBase
    # False when ``complete when`` cannot hold once the move's instance is in
    # its target: a condition on its machine that does not accept the
    # target comes before any data condition (which must still be tested,
    # for it may raise), so the end check need not look.
    may_complete: bool
    # The move leaves its state: the instance's timers and tasks are
    # abandoned, and every timer of the target is scheduled.
    leaves: bool
    # The task it plans, if any.
    task: _PlainTask | None
    # The timers it schedules (its target's, when it leaves its state),
    # each with its delay, the template of its ``TimerScheduled`` and the
    # end of its id's name (``_timer_scheduled``).
    timers: tuple[_PlainTimer, ...]


@dataclass(frozen=True, slots=True)
class _PlainTask:
    name: str
    mode: str  # as ``_planned_task`` reads it from the ``TransitionPlanned``
    # The end of the name of its id, after the instance (``_task_id``, at the
    # first occurrence).
    id_tail: str


@dataclass(frozen=True, slots=True)
class _PlainTimer:
    delay: timedelta
    scheduled: TimerScheduledBase
    id_tail: str


# The fields of a plain step's ``TransitionPlanned`` that are not the tables':
# the ones ``_plain_input`` passes.
_PLANNED_FIELDS = (
    "machine_id",
    "task_id",
    "task_input",
    "caused_by",
    "data_set",
    "instance_set",
    "kept_tasks",
)
_SCHEDULED_FIELDS = ("machine_id", "timer_id", "due_at")


@dataclass(frozen=True, slots=True)
class _Move:
    spec: TransitionSpec
    # The ``TransitionPlanned`` fields the tables give, and its template's key.
    static: Mapping[str, object]
    key: tuple[object, ...]
    # The timers of its target, scheduled when it enters it.
    timers: tuple[TimerSpec, ...]


def _reads_scope(spec: TransitionSpec) -> bool:
    return any(f is not None for f in (spec.guard, spec.bind, spec.assign, spec.emit))


def _is_plain(move: _Move) -> bool:
    """See ``_Step.plain``."""
    spec = move.spec
    clauses = (spec.guard, spec.assign, spec.emit)
    return (
        all(f is None for f in clauses) and not spec.keep and all(t.at is None for t in move.timers)
    )


class _Plans:
    """One definition's steps (``_Step``), end conditions and event builder."""

    def __init__(self, defn: ProcessDefinition) -> None:
        self.defn = defn
        self.build = EventBuilder()
        # Keys come from the tables and the declared events: a bounded set.
        self._steps: dict[tuple[str, str, str], _Step | None] = {}
        # ``complete when``: a data condition, or a machine and the states
        # every one of its instances must be in.
        self.complete_when: tuple[DataCondition | tuple[str, frozenset[str]], ...] = tuple(
            c
            if isinstance(c, DataCondition)
            else (c.machine, frozenset(c.accepted(defn.machine(c.machine))))
            for c in defn.complete_when
        )

    def step(self, machine: str, state: str, trigger: str) -> _Step | None:
        key = (machine, state, trigger)
        try:
            return self._steps[key]
        except KeyError:
            found = self._steps[key] = self._made(machine, state, trigger)
            return found

    def _made(self, machine: str, state: str, trigger: str) -> _Step | None:
        specs = row_specs(self.defn.transition(machine, state, trigger))
        if not specs:
            return None
        cls = self.defn.lifecycle.transition_planned
        moves = []
        for spec in specs:
            task_mode = None
            if spec.task is not None and spec.bind is not None:  # as ``_plan`` plans it
                task_mode = self.defn.tasks[spec.task].mode
            static = {
                "machine": machine,
                "transition": spec.name,
                "from_state": state,
                "to_state": spec.target,
                "task": spec.task,
                "task_mode": task_mode,
            }
            key = EventBuilder.key(cls, static)
            moves.append(_Move(spec, static, key, self.defn.timers_in(machine, spec.target)))
        plain = None
        if len(moves) == 1 and _is_plain(moves[0]):
            plain = self._plain(machine, state, moves[0])
        return _Step(tuple(moves), any(_reads_scope(spec) for spec in specs), plain)

    def _plain(self, machine: str, state: str, move: _Move) -> _Plain | None:
        """``_Step.plain`` of ``move``; None for a delay too long to add to a
        time, or a value from the tables that an event class refuses: the
        generic path refuses those as it always did."""
        name, target = move.spec.name, move.spec.target
        lc, build = self.defn.lifecycle, self.build
        timers = []
        try:
            planned = build.template(lc.transition_planned, move.static, _PLANNED_FIELDS, move.key)
            for timer in move.timers if target != state else ():
                delay = timedelta(milliseconds=timer.after_ms)
                static = {"machine": machine, "transition": timer.transition}
                key = EventBuilder.key(lc.timer_scheduled, static)
                scheduled = build.template(lc.timer_scheduled, static, _SCHEDULED_FIELDS, key)
                timers.append(_PlainTimer(delay, scheduled, f"{name}\x1f0\x1f{timer.transition}"))
        except (OverflowError, ValidationError):
            return None
        return _Plain(
            move,
            planned,
            self._may_complete(machine, target),
            leaves=target != state,
            task=_PlainTask(planned.task, str(planned.task_mode), f"{name}\x1f0")
            if planned.task is not None and planned.task_mode is not None
            else None,
            timers=tuple(timers),
        )

    def _may_complete(self, machine: str, target: str) -> bool:
        """See ``_Plain.may_complete``."""
        for condition in self.complete_when:
            if isinstance(condition, DataCondition):
                return True
            if condition[0] == machine and target not in condition[1]:
                return False
        return True


# A plain dict, not a WeakKeyDictionary, whose lookups cost a decision more
# than the rest of building its event: a definition is a module's constant,
# kept for the life of the interpreter anyway.
_PLANS: dict[ProcessDefinition, _Plans] = {}


def _plans(defn: ProcessDefinition) -> _Plans:
    """``defn``'s plans, made on first use and kept with it."""
    found = _PLANS.get(defn)
    if found is None:
        found = _PLANS[defn] = _Plans(defn)
    return found


def event_builder(defn: ProcessDefinition) -> EventBuilder:
    """The builder of ``defn``'s lifecycle events, made on first use and kept with it."""
    return _plans(defn).build


# ---- decide --------------------------------------------------------------------


# The scope passed where a row reads none (``_Step.reads``): never read.
_UNREAD: Scope[Any, Any, Any] = Scope(None, NoData(), NoData(), "", None)


@dataclass(frozen=True, slots=True)
class _Raised:
    """A signal a transition emitted, waiting for its turn in the decision's queue."""

    payload: SignalPayload
    machine: str
    machine_id: str
    transition: str
    # 1 for a signal emitted on the handled event, g + 1 for one emitted
    # while a signal of generation g was handled (see ``_handle_signals``).
    generation: int


def _task_id(
    defn: ProcessDefinition,
    meta: EventMeta,
    machine: str,
    machine_id: str,
    transition: str,
    occurrence: int,
) -> uuid.UUID:
    """The id of the task the ``occurrence``-th plan of ``transition`` for an
    instance in the decision on ``meta``'s event runs."""
    return derived_id(
        "task", defn.category, meta.key, meta.event_id, machine, machine_id, transition, occurrence
    )


def _timer_scheduled(
    plans: _Plans,
    meta: EventMeta,
    machine: str,
    machine_id: str,
    entered_by: str,
    occurrence: int,
    timer: TimerSpec,
    due: datetime,
) -> TimerScheduledBase:
    """``TimerScheduled`` of ``timer``, due at ``due``, of the state the
    ``occurrence``-th plan of ``entered_by`` ("" at the start) entered; its id
    is derived from all of these (see ``_Decision.schedule_timers``)."""
    defn = plans.defn
    timer_id = derived_id(
        "timer",
        defn.category,
        meta.key,
        meta.event_id,
        machine,
        machine_id,
        entered_by,
        occurrence,
        timer.transition,
    )
    return plans.build.event(
        defn.lifecycle.timer_scheduled,
        {"machine": machine, "transition": timer.transition},
        {"machine_id": machine_id, "timer_id": timer_id, "due_at": due},
    )


def _called(
    defn: ProcessDefinition,
    meta: EventMeta,
    where: tuple[str, str, str],
    clause: str,
    function: Callable[[Scope[Any, Any, Any]], _T],
    scope: Scope[Any, Any, Any],
) -> _T:
    """``function(scope)``, a generated function of the clause ``clause`` of
    transition ``where`` = (machine, machine_id, transition); what it
    raises becomes a ``DecisionError`` that says where."""
    machine, machine_id, transition = where
    try:
        return function(scope)
    except Exception as error:
        # A single instance goes by its machine's name: say it once.
        single = not defn.machine(machine).multi_instance
        instance = machine if single else f"{machine} {machine_id}"
        raise DecisionError(
            f"{defn.category} {meta.key}: {instance}, transition"
            f" `{transition}`: its `{clause}` raised {_described(error)}"
        ) from error


def _task_input(
    defn: ProcessDefinition,
    meta: EventMeta,
    where: tuple[str, str, str],
    transition: TransitionSpec,
    scope: Scope[Any, Any, Any],
) -> dict[str, Any]:
    """The input of the task ``transition`` runs, bound on ``scope``, as recorded (JSON)."""
    bound = _called(defn, meta, where, "run", _binder(defn, transition), scope)
    # ``bound.model_dump(mode="json")``: the serializer it calls with these
    # same defaults, without its Python wrapper, which costs as much again.
    dumped: dict[str, Any] = bound.__pydantic_serializer__.to_python(bound, mode="json")
    return dumped


def _binder(defn: ProcessDefinition, transition: TransitionSpec) -> ScopedBinder:
    """``transition``'s binder, called with a ``Scope``."""
    # The table's type cannot say which kind of binder a module has; its
    # API does: an API 1-3 module's take the trigger, machine id and key.
    if defn.api >= SECOND_EDITION_API:
        return cast(ScopedBinder, transition.bind)
    bind = cast(Binder, transition.bind)
    return lambda scope: bind(scope.event, scope.machine_id, scope.key)


@dataclass(slots=True)
class _Decision:
    """Events proposed so far for one handled event, with the state they lead to."""

    defn: ProcessDefinition
    meta: EventMeta
    state: ProcessState
    # The ``caused_by`` of the transitions planned now: the handled event's
    # id, then the id of each ``SignalRaised`` while its signal is routed.
    cause: uuid.UUID
    events: list[Event] = field(default_factory=list)
    # How often each (machine, machine_id, transition) was planned by this
    # decision: part of the derived ids, so a repeated plan gets a new id.
    planned: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # Signals emitted and not handled yet, first in first out.
    signals: deque[_Raised] = field(default_factory=deque)
    # The generation of the signal being routed (0: the handled event).
    generation: int = 0
    plans: _Plans = field(init=False)
    build: EventBuilder = field(init=False)

    def __post_init__(self) -> None:
        self.plans = _plans(self.defn)
        self.build = self.plans.build

    def record(self, event: Event) -> None:
        self.events.append(event)
        self.state = evolve(self.defn, self.state, event)

    def record_transition(self, event: TransitionPlannedBase) -> None:
        """``record`` of a ``TransitionPlanned``: its fold without ``evolve``'s dispatch."""
        self.events.append(event)
        changes = _fold_transition(self.defn, self.state, event)
        changes["version"] = self.state.version + 1
        self.state = self.state.changed(**changes)

    def scope(self, machine: str, machine_id: str, payload: object) -> Scope[Any, Any, Any]:
        """What a generated function of this instance reads now: the values before it acts."""
        record = instance_record(self.defn, self.state, machine, machine_id)
        return Scope(payload, self.state.data, record, machine_id, self.state.key)

    def call(
        self,
        where: tuple[str, str, str],
        clause: str,
        function: Callable[[Scope[Any, Any, Any]], _T],
        scope: Scope[Any, Any, Any],
    ) -> _T:
        """``_called`` in this decision."""
        return _called(self.defn, self.meta, where, clause, function, scope)

    def take(
        self,
        machine: str,
        machine_id: str,
        trigger: str,
        payload: object,
        fired: Timer | None = None,
    ) -> None:
        """Plan the transition ``trigger`` selects for one instance, if any.

        Of the state's row, the first transition whose guard holds (or that
        has none) in source order; none: the trigger changes nothing here.
        ``fired`` is the timer whose firing is the trigger.
        """
        current = self.state.state_of(machine, machine_id)
        created = current is None
        if current is None:
            spec = self.defn.machine(machine)
            if not spec.multi_instance:
                return
            current = spec.initial
        step = self.plans.step(machine, current, trigger)
        if step is None:
            return  # nothing to read a scope for
        # A row without clauses reads no scope: none is built.
        scope = self.scope(machine, machine_id, payload) if step.reads else _UNREAD
        for move in step.moves:
            guard = move.spec.guard
            if guard is None or self.call(
                (machine, machine_id, move.spec.name), "when", guard, scope
            ):
                break
        else:
            return
        transition = move.spec
        # The target state's timers are scheduled when the instance enters
        # it: on a move to another state; when a new instance stays in its
        # initial state; and on a transition taken on a timer, which re-enters
        # its target (so ``S -> S on after D`` repeats every D). An ``at``
        # timer re-entering its own state is scheduled again only for a later
        # instant than the one that fired: the same one would fire at once,
        # for ever.
        on_its_timer = fired is not None and trigger == on_timer(transition.name)
        enters = transition.target != current or created or on_its_timer
        refired = fired if on_its_timer and transition.target == current else None
        self._plan(machine, machine_id, move, scope, enters=enters, refired=refired)

    def _plan(
        self,
        machine: str,
        machine_id: str,
        move: _Move,
        scope: Scope[Any, Any, Any],
        *,
        enters: bool,
        refired: Timer | None,
    ) -> None:
        # Every clause reads the same scope, from before the transition: the
        # assignments of one ``set`` are simultaneous (``a = b, b = a`` swaps).
        transition = move.spec
        where = (machine, machine_id, transition.name)
        occurrence = self.planned.get(where, 0)
        self.planned[where] = occurrence + 1
        task_id = None
        task_input = None
        if transition.task is not None and transition.bind is not None:
            task_id = _task_id(
                self.defn, self.meta, machine, machine_id, transition.name, occurrence
            )
            task_input = _task_input(self.defn, self.meta, where, transition, scope)
        data_set = instance_set = None
        if transition.assign is not None:
            data_set, instance_set = self.call(
                where, "set", lambda s: _assigned(transition, s), scope
            )
        self.record_transition(
            self.build.event(
                self.defn.lifecycle.transition_planned,
                move.static,
                {
                    "machine_id": machine_id,
                    "task_id": task_id,
                    "task_input": task_input,
                    "caused_by": self.cause,
                    "data_set": data_set,
                    "instance_set": instance_set,
                    "kept_tasks": self._kept(machine, machine_id, transition.keep)
                    if transition.keep
                    else None,
                },
                move.key,
            )
        )
        if transition.emit is not None:
            for payload in self.call(where, "emit", transition.emit, scope):
                self.signals.append(
                    _Raised(payload, machine, machine_id, transition.name, self.generation + 1)
                )
        if enters and move.timers:
            self.schedule_timers(
                move.timers, machine, machine_id, transition.name, occurrence, refired
            )

    def _kept(self, machine: str, machine_id: str, keep: tuple[str, ...]) -> list[uuid.UUID] | None:
        """The instance's tasks in flight that ``keep`` (not empty) names, in the
        order they were planned."""
        kept = [
            task.task_id
            for task in self.state.tasks.values()
            if task.machine == machine and task.machine_id == machine_id and task.task in keep
        ]
        return kept or None

    def schedule_timers(
        self,
        timers: tuple[TimerSpec, ...],
        machine: str,
        machine_id: str,
        entered_by: str,
        occurrence: int,
        refired: Timer | None = None,
    ) -> None:
        """Schedule ``timers``, those of the state just entered by ``entered_by``
        ("" at the start): ``ProcessDefinition.timers_in``.

        A timer still running for the instance is kept, not scheduled twice
        (a re-entered state keeps the timers that have not fired yet).
        ``refired`` is the ``at`` timer whose transition re-entered ``state``:
        it is scheduled again only for an instant later than it fired at. The id
        is derived from the handled event, the instance, the transition that
        entered the state and how often it did so in this decision, and the
        timer's transition: unique within the stream, however often one
        fan-out moves an instance in and out of ``state``.
        """
        running = {
            self.state.timers[timer_id].transition
            for timer_id in self.state.timers_of(machine, machine_id)
        }
        for timer in timers:
            if timer.transition in running:
                continue
            due = self._due(timer, machine, machine_id)
            if due is None or _fired_already(timer, due, refired):
                continue
            self.record(
                _timer_scheduled(
                    self.plans, self.meta, machine, machine_id, entered_by, occurrence, timer, due
                )
            )

    def _due(self, timer: TimerSpec, machine: str, machine_id: str) -> datetime | None:
        """When ``timer`` fires: ``after D`` from now, or the instant ``at`` reads (None: never).

        ``at`` reads the records as the entering transition's ``set`` left
        them (the state is folded by now); it has no trigger payload.
        """
        if timer.at is None:
            return later(self.meta.timestamp, timedelta(milliseconds=timer.after_ms))
        scope = self.scope(machine, machine_id, None)
        due = self.call((machine, machine_id, timer.transition), "at", timer.at, scope)
        if due is not None and due.tzinfo is None:
            return due.replace(tzinfo=UTC)  # a naive instant is taken as UTC
        return due


def _fired_already(timer: TimerSpec, due: datetime, refired: Timer | None) -> bool:
    """Whether ``timer`` is the ``at`` timer that just fired and re-entered its
    state, and reads an instant no later than the one it fired at."""
    return (
        refired is not None
        and timer.at is not None
        and timer.transition == refired.transition
        and due <= refired.due_at
    )


def _assigned(
    transition: TransitionSpec, scope: Scope[Any, Any, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """What the transition's ``set`` writes: (``data_set``, ``instance_set``)."""
    if transition.assign is None:
        return None, None
    assignments = transition.assign(scope)
    return _validated(scope.data, assignments.data), _validated(
        scope.instance, assignments.instance
    )


def _validated(record: ProcessData, values: Mapping[str, object]) -> dict[str, Any] | None:
    """``values`` as the record's model takes them, as JSON: what is recorded (None: nothing).

    Validated exactly as ``evolve`` will apply them (``with_recorded``), so
    the fold cannot differ; a value that does not fit raises here, before
    anything is recorded.
    """
    if not values:
        return None
    dumped = with_recorded(record, values).model_dump(mode="json")
    return {name: dumped[name] for name in values}


def decide(
    defn: ProcessDefinition, state: ProcessState, event: Event, meta: EventMeta
) -> list[Event]:
    return decide_and_fold(defn, state, event, meta)[0]


def decide_and_fold(
    defn: ProcessDefinition, state: ProcessState, event: Event, meta: EventMeta
) -> tuple[list[Event], ProcessState]:
    """The decisions on ``event``, and the state ``decide`` built while making them.

    That state is ``state`` with ``event`` and the decisions folded in: what
    the stream folds to once they are appended (a test replays the stored
    stream to check exactly that).

    A generated function that raises (``DecisionError``): on an input event
    the error reaches the caller and nothing is decided; on a lifecycle event,
    a fact that must be recorded (SPEC §7), the decision is ``ProcessFailed``
    with the error's message, and nothing else.
    """
    return _decide_and_fold(defn, state, event, meta, plain=True)


def _decide_and_fold(
    defn: ProcessDefinition, state: ProcessState, event: Event, meta: EventMeta, *, plain: bool
) -> tuple[list[Event], ProcessState]:
    """``decide_and_fold``; ``plain``: an input event that takes a plain step
    (``_Step.plain``) is decided by ``_plain_input``, which decides what the
    generic path decides (``tests/engine/test_plain_steps.py`` compares them)."""
    is_input = defn.is_input(event)
    if state.ended or not (is_input or defn.is_lifecycle(event)):
        return [], evolve(defn, state, event)
    started = state.started
    if not started and not (is_input and defn.can_start(event)):
        # Only a start event (``start on``; any trigger event without it)
        # starts a process; nothing can be in flight yet.
        return [], evolve(defn, state, event)
    if isinstance(event, defn.cancel_on):
        decision = _Decision(defn, meta, evolve(defn, state, event), cause=meta.event_id)
        reason = f"cancelled by {type(event).__name__}"
        decision.record(
            decision.build.event(defn.lifecycle.process_cancelled, {}, {"reason": reason})
        )
        return decision.events, decision.state
    routes = defn.route(event) if is_input else ()
    if plain and is_input and started:
        decided = _plain_input(_plans(defn), state, event, meta, routes)
        if decided is not None:
            return decided
    decision = _Decision(defn, meta, evolve(defn, state, event), cause=meta.event_id)
    try:
        _react(decision, state, event, routes, is_input=is_input)
    except DecisionError as error:
        if is_input:
            raise
        decision = _Decision(defn, meta, evolve(defn, state, event), cause=meta.event_id)
        failed = {"reason": str(error)}
        decision.record(decision.build.event(defn.lifecycle.process_failed, {}, failed))
    return decision.events, decision.state


def _plain_input(
    plans: _Plans, state: ProcessState, event: Event, meta: EventMeta, routes: Sequence[Route]
) -> tuple[list[Event], ProcessState] | None:
    """The decisions on an input event to a started process addressed to one
    existing instance whose step is plain (``_Step.plain``), and the state
    they lead to; None for any other event (the generic path decides it).

    The same events and state as the generic path, made in one go: the
    transition, then the timers of the state it enters, then an end, folded
    into one copy of the state. The event only moves the version (the
    process has started), and entering another state leaves no timer of the
    instance running, so every timer of the target is scheduled.
    """
    if len(routes) != 1:
        return None
    route = routes[0]
    if route.broadcast or len(route.ids) != 1:
        return None
    machine, machine_id = route.machine, route.ids[0]
    current = state.instances.get(machine, _NONE).get(machine_id)
    if current is None:
        return None  # a new instance: created by the generic path
    step = plans.step(machine, current, on_event(type(event).__name__))
    if step is None or step.plain is None:
        return None
    plain = step.plain
    # ``state.instance_record``, without the call: on every plain step.
    record = state.instance_data.get(machine, _NONE).get(machine_id)
    if record is None:
        return None  # a state folded without the instance's record: the generic path adds it
    # The values ``EventBuilder.event`` would check (``_CHECKED``): ``caused_by``,
    # ``machine_id`` and ``due_at`` (the timestamp plus a delay); the generic
    # path validates one of another type.
    trusted = type(meta.event_id) is uuid.UUID and type(meta.timestamp) is datetime
    if not (trusted and type(machine_id) is str):
        return None
    move, defn = plain.move, plans.defn
    spec = move.spec
    # What every id this decision derives starts with (``_task_id``,
    # ``_timer_scheduled``), joined once, when there is one.
    instance = ""
    if plain.task is not None or plain.timers:
        # ``"\x1f".join(map(str, parts))``, spelt out: a third cheaper.
        head = f"{defn.category!s}\x1f{meta.key!s}\x1f{meta.event_id!s}"
        instance = f"{head}\x1f{machine!s}\x1f{machine_id!s}"
    task_id = task_input = None
    if plain.task is not None:  # a task is planned: ``_Decision._plan``
        task_id = joined_id("task", f"{instance}\x1f{plain.task.id_tail}")
        scope = Scope(event, state.data, record, machine_id, state.key)
        task_input = _task_input(defn, meta, (machine, machine_id, spec.name), spec, scope)
    planned = from_template(
        plain.planned,
        {
            "machine_id": machine_id,
            "task_id": task_id,
            "task_input": task_input,
            "caused_by": meta.event_id,
            "data_set": None,
            "instance_set": None,
            "kept_tasks": None,
        },
    )
    events: list[Event] = [planned]
    # ``_fold_transition`` of ``planned``, which sets no record and keeps no task.
    entered = str(spec.target)
    timers, tasks = state.timers, state.tasks
    if plain.leaves:
        timers = _without_instance(timers, machine, machine_id)
        tasks = _without_instance(tasks, machine, machine_id)
    if plain.task is not None and task_id is not None and task_input is not None:
        # ``_planned_task``, its fields worked out once.
        input_json = canonical_json(task_input)
        task = TaskInFlight(
            task_id, plain.task.name, plain.task.mode, machine, machine_id, spec.name, input_json
        )
        tasks = with_item(tasks, task_id, task)
    for timer in plain.timers:
        due = later(meta.timestamp, timer.delay)
        timer_id = joined_id("timer", f"{instance}\x1f{timer.id_tail}")
        values = {"machine_id": machine_id, "timer_id": timer_id, "due_at": due}
        events.append(from_template(timer.scheduled, values))
        # ``_timer`` of that event, from the values it was made of.
        transition = timer.scheduled.transition
        made = Timer(timer_id, machine, machine_id, transition, entered, due)
        timers = with_item(timers, timer_id, made)
    after = state.changed(
        instances=_with_instance_item(state.instances, machine, machine_id, entered),
        timers=timers,
        tasks=tasks,
        version=state.version + 1 + len(events),
    )
    if not (plain.may_complete or defn.fail_when):
        return events, after  # no end condition can hold: ``_ending`` would say None
    ending = _ending(plans, after, meta, completes=plain.may_complete)
    if ending is not None:
        events.append(ending)
        after = evolve(defn, after, ending)
    return events, after


def _react(
    decision: _Decision,
    before: ProcessState,
    event: Event,
    routes: Sequence[Route],
    *,
    is_input: bool,
) -> None:
    """Every decision on ``event``, but a cancellation: ``decide_and_fold``
    (``routes``: an input event's)."""
    if is_input:
        _react_to_input(decision, event, routes)
    else:
        _react_to_lifecycle(decision, before, event)
    if decision.signals:
        _handle_signals(decision)
    if not before.started:
        _schedule_initial_timers(decision)
    _check_end(decision)


def _react_to_input(decision: _Decision, event: Event, routes: Sequence[Route]) -> None:
    trigger = on_event(type(event).__name__)
    for route in routes:
        for machine_id in _addressed(decision.state, route):
            decision.take(route.machine, machine_id, trigger, event)


def _handle_signals(decision: _Decision) -> None:
    """Raise and route the signals the decision's transitions emitted, first in first out.

    Each is recorded as ``SignalRaised`` after every decision of what caused
    it, then routed like an input event (to a single instance, by a selector,
    which may create the instance, or broadcast); the transitions it causes
    name that ``SignalRaised`` in ``caused_by``, and the signals they emit
    join the end of the queue.

    A chain of signals, each emitted while handling the one before, is as
    long as the process's signals at most unless some signal comes back in
    it: a cycle, which ``pmc check`` refuses (PM0311). A fan-out may raise
    any number of signals; a chain longer than that is an error, not a loop
    that never ends.
    """
    defn = decision.defn
    names = {payload_class: name for name, payload_class in defn.signals.items()}
    while decision.signals:
        signal = decision.signals.popleft()
        if signal.generation > len(defn.signals):
            raise SignalError(
                f"{defn.category} {decision.meta.key}: transition `{signal.transition}` of"
                f" {signal.machine} {signal.machine_id} emitted a signal {signal.generation}"
                f" deep in a chain of signals each emitted on the one before, and the process"
                f" declares {len(defn.signals)}: only a signal cycle gets there, which"
                " `pmc check` refuses (PM0311); was the module edited?"
            )
        name = names.get(type(signal.payload))
        if name is None:
            raise SignalError(
                f"transition `{signal.transition}` emitted a {type(signal.payload).__name__},"
                f" which is not a signal of {defn.category}"
            )
        signal_id = decision_id(decision.meta.event_id, len(decision.events))
        decision.record(
            decision.build.event(
                _signal_raised(defn),
                {"signal": name, "machine": signal.machine, "transition": signal.transition},
                {
                    "payload": signal.payload.model_dump(mode="json"),
                    "machine_id": signal.machine_id,
                },
            )
        )
        decision.cause = signal_id
        decision.generation = signal.generation
        for route in defn.route_signal(signal.payload):
            for machine_id in _addressed(decision.state, route):
                decision.take(route.machine, machine_id, on_signal(name), signal.payload)


def _signal_raised(defn: ProcessDefinition) -> type[SignalRaisedBase]:
    found = defn.lifecycle.signal_raised
    if found is None:
        raise SignalError(
            f"{defn.category} raised a signal, but its module defines no SignalRaised"
            " (`LifecycleTypes.signal_raised`): was the module edited?"
        )
    return found


def _addressed(state: ProcessState, route: Route) -> tuple[str, ...]:
    """The instance ids ``route`` names, or for a broadcast every existing one.

    A broadcast takes the instances as they are when the event arrives, in
    the order they were created: the fold keeps them in that order, and
    replay folds the same events, so it finds the same order.
    """
    if route.broadcast:
        return tuple(state.instances.get(route.machine, {}))
    return route.ids


def _react_to_lifecycle(decision: _Decision, before: ProcessState, event: Event) -> None:
    lc = decision.defn.lifecycle
    if isinstance(event, lc.task_completed):
        _on_completed(decision, before, event)
    elif isinstance(event, lc.task_failed):
        _on_failed_attempt(decision, before, event, event.reason, permanent=event.permanent)
    elif isinstance(event, lc.task_timed_out):
        reason = f"attempt {event.attempt} timed out"
        _on_failed_attempt(decision, before, event, reason, permanent=False)
    elif isinstance(event, lc.timer_fired):
        timer = _pending_timer(before, event.timer_id)
        if timer is not None:
            _take_timer(decision, timer, event)
    elif isinstance(event, OperatorEventBase):
        _on_operator(decision, before, event)


def _on_operator(decision: _Decision, before: ProcessState, event: OperatorEventBase) -> None:
    """What follows an operator's action (``pmc.runtime.operator``); a retry is its fold alone."""
    defn = decision.defn
    if isinstance(event, OperatorCancelledBase):
        reason = f"cancelled by {event.by}: {event.reason}"
        decision.record(
            decision.build.event(defn.lifecycle.process_cancelled, {}, {"reason": reason})
        )
    elif isinstance(event, OperatorFiredTimerBase):
        # The timer fires as it would when due: its TimerFired, then its transition.
        timer = _pending_timer(before, event.timer_id)
        if timer is not None:
            fired = decision.build.event(
                defn.lifecycle.timer_fired, {}, {"timer_id": timer.timer_id}
            )
            decision.record(fired)
            _take_timer(decision, timer, fired)
    elif isinstance(event, OperatorMovedBase):
        # Entering the state plans what entering it plans: its timers.
        timers = defn.timers_in(event.machine, event.to_state)
        if timers:
            decision.schedule_timers(timers, event.machine, event.machine_id, "operator", 0)


def _pending_timer(before: ProcessState, timer_id: uuid.UUID) -> Timer | None:
    """The timer ``timer_id``, if its instance is still in the state that scheduled it."""
    timer = before.timers.get(timer_id)
    if timer is not None and before.state_of(timer.machine, timer.machine_id) == timer.state:
        return timer
    return None


def _take_timer(decision: _Decision, timer: Timer, fired: Event) -> None:
    """The timer's transition, on its ``TimerFired``."""
    decision.take(timer.machine, timer.machine_id, on_timer(timer.transition), fired, fired=timer)


def _on_completed(decision: _Decision, before: ProcessState, event: TaskCompletedBase) -> None:
    # A completion from an earlier attempt than the current one still counts:
    # the work was done (handlers are idempotent by task id).
    if not outcome_changes_state(before, event):
        return
    task = before.tasks[event.task_id]
    payload = _result_payload(decision.defn, task.task, event.result)
    if isinstance(payload, TaskFailure):
        # A result that does not match the task's ``returns`` cannot be
        # bound; retrying would not help, so it counts as a final failure.
        decision.take(task.machine, task.machine_id, on_outcome(task.task, "failed"), payload)
    else:
        decision.take(task.machine, task.machine_id, on_outcome(task.task, "completed"), payload)


def _result_payload(
    defn: ProcessDefinition, task: str, result: dict[str, Any] | None
) -> TaskResult | TaskFailure | None:
    model = defn.tasks[task].result
    if model is None:
        return None
    try:
        return model.model_validate(result or {})
    except ValidationError as error:
        return TaskFailure(reason=f"invalid result: {error.error_count()} validation error(s)")


def _on_failed_attempt(
    decision: _Decision,
    before: ProcessState,
    event: TaskFailedBase | TaskTimedOutBase,
    reason: str,
    *,
    permanent: bool,
) -> None:
    # Only the current attempt's failure counts: duplicates and reports of
    # attempts already given up on change nothing.
    if not outcome_changes_state(before, event):
        return
    task = before.tasks[event.task_id]
    spec = decision.defn.tasks[task.task]
    # A permanent failure (``PermanentFailure`` in the handler) skips the
    # retries left: the handler said that trying again cannot help.
    if not permanent and spec.retry is not None and task.attempt < spec.retry.max_attempts:
        not_before = later(decision.meta.timestamp, spec.retry.delay_after(task.attempt))
        retry = {"task_id": task.task_id, "attempt": task.attempt + 1, "not_before": not_before}
        decision.record(
            decision.build.event(decision.defn.lifecycle.task_retry_scheduled, {}, retry)
        )
        return
    failure = TaskFailure(reason)
    decision.take(task.machine, task.machine_id, on_outcome(task.task, "failed"), failure)


def _schedule_initial_timers(decision: _Decision) -> None:
    # Single-instance machines enter their initial state when the process
    # starts. If the first event (or a signal it caused) already moved them
    # on, the timer would be cancelled at once, so it is not recorded at all.
    # An instance moved back into its initial state got the timers then, and
    # a timer still running is never scheduled twice.
    for machine in decision.defn.machines:
        in_initial = decision.state.state_of(machine.name, machine.name) == machine.initial
        if not machine.multi_instance and in_initial:
            timers = decision.defn.timers_in(machine.name, machine.initial)
            if timers:
                decision.schedule_timers(timers, machine.name, machine.name, "", 0)


# ---- the end of a process -------------------------------------------------------


def _check_end(decision: _Decision) -> None:
    ending = _ending(decision.plans, decision.state, decision.meta)
    if ending is not None:
        decision.record(ending)


def _ending(
    plans: _Plans, state: ProcessState, meta: EventMeta, *, completes: bool = True
) -> LifecycleEvent | None:
    """``ProcessFailed`` or ``ProcessCompleted`` if an end condition holds on ``state``
    (one that has not ended), else None; ``completes`` False: ``complete when``
    is known not to hold (``_Plain.may_complete``)."""
    if state.ended:
        return None
    defn = plans.defn
    failure = _failure(defn, state, meta) if defn.fail_when else None
    lc = defn.lifecycle
    if failure is not None:
        return plans.build.event(lc.process_failed, {}, {"reason": failure})
    if completes and _completed(plans, state, meta):
        return plans.build.event(lc.process_completed, {}, {})
    return None


def _failure(defn: ProcessDefinition, state: ProcessState, meta: EventMeta) -> str | None:
    """The reason of the first ``fail when`` condition that holds, in source order."""
    for condition in defn.fail_when:
        reason = _failing(defn, state, meta, condition)
        if reason is not None:
            return reason
    return None


def _tested(
    defn: ProcessDefinition,
    state: ProcessState,
    meta: EventMeta,
    condition: DataCondition,
    end: str,
) -> bool:
    """A data condition of ``end`` (``complete when`` / ``fail when``), read on
    the process's record as the decision's transitions left it."""
    try:
        return condition.test(state.data)
    except Exception as error:
        raise DecisionError(
            f"{defn.category} {meta.key}: `{end} {condition.text}` raised {_described(error)}"
        ) from error


def _failing(
    defn: ProcessDefinition, state: ProcessState, meta: EventMeta, condition: AnyIn | DataCondition
) -> str | None:
    if isinstance(condition, DataCondition):
        holds = _tested(defn, state, meta, condition, "fail when")
        return f"{condition.text} holds" if holds else None
    for machine_id, current in _instances(state, condition.machine):
        if current in condition.states:
            # A single instance goes by its machine's name: say it once.
            if not defn.machine(condition.machine).multi_instance:
                return f"{condition.machine} is in {current}"
            return f"{condition.machine} {machine_id} is in {current}"
    return None


def _completed(plans: _Plans, state: ProcessState, meta: EventMeta) -> bool:
    """Every condition holds (and there is one): see ``_holds``."""
    complete_when = plans.complete_when
    if not complete_when:
        return False
    # A loop, not ``all`` over a generator: this runs on every decision.
    for condition in complete_when:  # noqa: SIM110
        if not _holds(plans.defn, state, meta, condition):
            return False
    return True


def _holds(
    defn: ProcessDefinition,
    state: ProcessState,
    meta: EventMeta,
    condition: DataCondition | tuple[str, frozenset[str]],
) -> bool:
    """A data condition holds on the process's record; ``all M ...`` (here the
    machine and its accepted states) when its machine has instances, and all
    are in accepted states.

    A machine with no instances satisfies no ``all M ...`` condition, so an
    input event that starts no instance (ignored, or an empty fan-out) never
    completes the process. A single-instance machine always has its instance.
    """
    if isinstance(condition, DataCondition):
        return _tested(defn, state, meta, condition, "complete when")
    machine, states = condition
    current = state.instances.get(machine, _NONE).values()
    return bool(current) and states.issuperset(current)


def _instances(state: ProcessState, machine: str) -> Iterator[tuple[str, str]]:
    yield from state.instances.get(machine, {}).items()
