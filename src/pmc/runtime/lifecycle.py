"""Base classes of what a generated module defines.

Each generated process subclasses the lifecycle events below, narrowing the
field types (``transition: Literal[...]``, states as the machine's enum) and
setting ``__event_name__ = "<Process>.<Name>"``. The bases here never set
``__event_name__``: event-sourcery keys its registry by that name and silently
skips a second class with a name already taken, so a name on a base would
shadow every process's own class. The bases are registered by event-sourcery
under their module path; they are never instantiated, so nothing is ever
stored under those names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeGuard, TypeVar
from uuid import UUID

from event_sourcery import Event
from pydantic import BaseModel, ConfigDict, model_validator


class InputEvent(Event):
    """Base of a process's input events.

    Rejects ``inf`` and ``nan`` in float fields: JSON cannot hold them, so a
    stored event would not read back equal (see ``docs/design.md``).
    """

    model_config = ConfigDict(allow_inf_nan=False)


class TaskInput(BaseModel):
    """Base of a task's input model (finite floats only, as for input events)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TaskResult(BaseModel):
    """Base of the model of what a task ``returns`` (finite floats only)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ProcessData(BaseModel):
    """Base of a ``data`` record: the process's (``<Process>Data``) or a machine
    instance's (``<Machine>Data``). Every field has a default; immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class NoData(ProcessData):
    """The record of a process or machine that declares no ``data``."""


class SignalPayload(BaseModel):
    """Base of a signal's payload model (``signal NAME { ... }``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """What a ``T failed`` transition's bindings see as ``event``."""

    reason: str


class LifecycleEvent(Event):
    """Base of every event the engine records (never an input event)."""


_L = TypeVar("_L", bound=LifecycleEvent)


def from_template(template: _L, values: Mapping[str, Any]) -> _L:
    """A copy of ``template``, a validated event, with ``values`` in place of its own.

    Not validated again: the engine builds its decisions from trusted tables
    and passes values of exactly the types validating them would give (a
    ``str``, ``UUID``, ``int``, an aware ``datetime``, or a fresh JSON
    ``dict``/``list`` nothing else holds). The copy is what validating the
    same values gives: the same fields in the same order, the same fields
    set (the template's, which was built with every field the engine
    passes), so it is equal, dumps and serialises alike. A tenth of the cost
    of validating (``tests/engine/test_trusted_events.py`` checks the claim
    for every lifecycle event the engine builds).
    """
    event = _new(type(template))
    # Set through the slots of ``BaseModel``, as pydantic's own copy does,
    # without its ``__setattr__`` (which validates, and refuses a frozen model).
    fields = template.__dict__.copy()
    fields.update(values)
    _set_dict(event, fields)
    _set_fields_set(event, set(template.__pydantic_fields_set__))
    _set_extra(event, template.__pydantic_extra__)
    _set_private(event, template.__pydantic_private__)
    return event


_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class TransitionPlannedBase(LifecycleEvent):
    """A machine instance moves from one state to another; the only record of it."""

    machine: str
    machine_id: str
    transition: str
    from_state: str
    to_state: str
    task: str | None = None
    task_mode: str | None = None
    task_id: UUID | None = None
    task_input: dict[str, Any] | None = None
    caused_by: UUID
    # Second edition (runtime API 4); absent from streams recorded before it.
    # The values the transition's ``set`` wrote (field -> JSON value): evolve
    # applies these, it never evaluates an expression again.
    data_set: dict[str, Any] | None = None
    instance_set: dict[str, Any] | None = None
    # The tasks of the instance that stay in flight across it (``keep``).
    kept_tasks: list[UUID] | None = None

    # Each machine's state enum, set by a generated process with several
    # machines. Its ``from_state: AState | BState`` alone is not enough: for
    # a state name both machines have, pydantic picks the first enum of the
    # union that has the value, whatever the ``machine``.
    machine_states: ClassVar[Mapping[str, type[StrEnum]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _states_of_its_machine(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        machine = data.get("machine")
        if not isinstance(machine, str) or machine not in cls.machine_states:
            return data
        states = cls.machine_states[machine]
        return {
            **data,
            **{
                name: _state_of(states, machine, name, data[name])
                for name in ("from_state", "to_state")
                if isinstance(data.get(name), str)
            },
        }


def _state_of(states: type[StrEnum], machine: str, name: str, value: str) -> StrEnum:
    try:
        return states(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a state of machine {machine!r}") from None


class TaskStartedBase(LifecycleEvent):
    task_id: UUID
    attempt: int
    worker: str
    lease_until: datetime | None = None


class TaskCompletedBase(LifecycleEvent):
    machine: str
    machine_id: str
    task_id: UUID
    transition: str
    attempt: int
    result: dict[str, Any] | None = None


class TaskFailedBase(LifecycleEvent):
    machine: str
    machine_id: str
    task_id: UUID
    transition: str
    attempt: int
    reason: str
    # Raised as ``PermanentFailure``: the task fails without its remaining
    # retries. Defaults to False, so streams recorded before it still load.
    permanent: bool = False


TaskOutcome = TaskCompletedBase | TaskFailedBase


def is_outcome(event: Event) -> TypeGuard[TaskOutcome]:
    """Is ``event`` the outcome of a task attempt (``TaskCompleted`` or ``TaskFailed``)?"""
    return isinstance(event, _OUTCOMES)


# A tuple: ``isinstance`` takes it several times faster than the union.
_OUTCOMES = (TaskCompletedBase, TaskFailedBase)


class TaskRetryScheduledBase(LifecycleEvent):
    task_id: UUID
    attempt: int  # the attempt that may start at ``not_before``
    not_before: datetime


class TaskTimedOutBase(LifecycleEvent):
    task_id: UUID
    attempt: int


class TimerScheduledBase(LifecycleEvent):
    machine: str
    machine_id: str
    timer_id: UUID
    transition: str
    due_at: datetime


class TimerFiredBase(LifecycleEvent):
    timer_id: UUID


class SignalRaisedBase(LifecycleEvent):
    """A transition raised a signal (``emit``); recorded before the decisions it causes,
    whose ``caused_by`` is this event's id."""

    signal: str
    payload: dict[str, Any]
    machine: str  # the instance whose transition raised it
    machine_id: str
    transition: str


class ProcessCompletedBase(LifecycleEvent):
    pass


class ProcessFailedBase(LifecycleEvent):
    reason: str


class ProcessCancelledBase(LifecycleEvent):
    reason: str


@dataclass(frozen=True, slots=True)
class LifecycleTypes:
    """The lifecycle event classes generated for one process."""

    transition_planned: type[TransitionPlannedBase]
    task_started: type[TaskStartedBase]
    task_completed: type[TaskCompletedBase]
    task_failed: type[TaskFailedBase]
    task_retry_scheduled: type[TaskRetryScheduledBase]
    task_timed_out: type[TaskTimedOutBase]
    timer_scheduled: type[TimerScheduledBase]
    timer_fired: type[TimerFiredBase]
    process_completed: type[ProcessCompletedBase]
    process_failed: type[ProcessFailedBase]
    process_cancelled: type[ProcessCancelledBase]
    # API 4: a process that declares signals has its ``SignalRaised``.
    signal_raised: type[SignalRaisedBase] | None = None
