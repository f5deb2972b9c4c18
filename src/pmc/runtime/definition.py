"""The interface between a generated process and the runtime.

A generated module defines ``class <Process>(ProcessDefinition)`` and fills
in the class-level tables below; ``DEFINITION = <Process>()`` is the instance
the runtime works with. Everything the runtime needs goes through this
class: ``can_start`` and ``key_of`` to find the stream, ``initial_state``,
``evolve`` to fold it, ``decide`` to react to an event, and ``tasks`` /
``task_input`` / ``task_result`` to run tasks. See ``docs/design.md``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from event_sourcery import Event

from pmc.runtime import engine
from pmc.runtime.lifecycle import LifecycleTypes, TaskInput, TaskResult
from pmc.runtime.state import KeyValue, ProcessState, TaskInFlight, frozen_map

TaskMode = Literal["sync", "async"]

# A generated binding function: (trigger payload, machine id, process key) ->
# the task's input model. The payload is the input event, the task's result
# model (or None), a TaskFailure, or the TimerFired event.
Binder = Callable[[Any, str, Any], TaskInput]


@dataclass(frozen=True, slots=True)
class EventMeta:
    """What the store knows about the event being decided on.

    ``timestamp`` is the only clock a decision reads; ``event_id`` makes the
    ids of planned tasks and timers deterministic; ``key`` is the stream name.
    """

    event_id: UUID
    timestamp: datetime
    key: str


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a task handler gets besides its input (built by the runtime)."""

    task_id: UUID
    attempt: int
    category: str
    key: str
    machine: str
    machine_id: str
    lease_until: datetime | None = None
    # Set by the runtime when the attempt should stop early (the worker is
    # shutting down); a long handler may poll ``cancelled`` or wait on it.
    cancellation: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def cancelled(self) -> bool:
        return self.cancellation.is_set()


class PermanentFailure(Exception):
    """Raised by a task handler: this task will never succeed, so do not retry it.

    The attempt fails with ``reason`` and the task takes its ``failed``
    transition at once, whatever retries its ``retry`` clause has left (a hard
    card decline, a deleted account). ``TaskFailed`` records it with
    ``permanent=True``, so a replay takes the same path. Any other exception
    fails the attempt and leaves the remaining retries to run.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Route:
    """The instances of one machine an input event is addressed to, in order."""

    machine: str
    ids: tuple[str, ...]


# The longest delay before a retry: 100 years, the longest duration a `.pm`
# file may write (PM0006; ``pmc.syntax.builder.MAX_DURATION_MS``).
MAX_DELAY_MS = 36_500 * 24 * 60 * 60 * 1000
_MAX_BACKOFF_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """``retry N [backoff D | every D] [max D]``: N more attempts after the first."""

    retries: int
    delay: Literal["none", "backoff", "every"] = "none"
    delay_ms: int = 0
    max_delay_ms: int | None = None

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def delay_after(self, failed_attempt: int) -> timedelta:
        """How long to wait before the attempt after ``failed_attempt`` (1-based).

        Never more than :data:`MAX_DELAY_MS` (100 years), whatever the number
        of retries: ``retry 30 backoff 1h`` without ``max`` would otherwise
        double past what ``timedelta`` can hold.
        """
        match self.delay:
            case "none":
                ms = 0
            case "every":
                ms = self.delay_ms
            case "backoff":
                # Doubling from delay_ms. The exponent is capped first, so no
                # huge integer is ever built: delay_ms >= 1 doubled 64 times
                # is far past the cap.
                exponent = min(max(failed_attempt - 1, 0), _MAX_BACKOFF_EXPONENT)
                ms = self.delay_ms * 2**exponent
        if self.max_delay_ms is not None:
            ms = min(ms, self.max_delay_ms)
        return timedelta(milliseconds=min(ms, MAX_DELAY_MS))


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    mode: TaskMode
    input: type[TaskInput]
    result: type[TaskResult] | None  # None: the task returns nothing
    method: str  # the method of the ``<Process>Tasks`` protocol that runs it
    retry: RetrySpec | None = None  # None: the first failure is final
    timeout_ms: int | None = None  # None: attempts never time out

    @property
    def max_attempts(self) -> int:
        return 1 if self.retry is None else self.retry.max_attempts


@dataclass(frozen=True, slots=True)
class MachineSpec:
    name: str
    states: type[StrEnum]
    initial: str
    final: tuple[str, ...]
    multi_instance: bool


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One transition; the table key holds its machine, source state and trigger."""

    name: str
    target: str
    task: str | None = None
    bind: Binder | None = None  # set exactly when ``task`` is


TransitionKey = tuple[str, str, str]  # (machine, state, trigger)
TaskTable = Mapping[str, TaskSpec]
TransitionTable = Mapping[TransitionKey, TransitionSpec]
TimerTable = Mapping[tuple[str, str], tuple["TimerSpec", ...]]  # (machine, state)


@dataclass(frozen=True, slots=True)
class AllFinal:
    """``all M final``: M has an instance, and every instance is in a final state."""

    machine: str

    def accepted(self, machine: MachineSpec) -> tuple[str, ...]:
        return machine.final


@dataclass(frozen=True, slots=True)
class AllIn:
    """``all M in S, ...``: M has an instance, and every instance is in one of ``states``."""

    machine: str
    states: tuple[str, ...]

    def accepted(self, machine: MachineSpec) -> tuple[str, ...]:
        return self.states


@dataclass(frozen=True, slots=True)
class AnyIn:
    """``any M in S, ...``: some instance of M is in one of ``states``."""

    machine: str
    states: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """An ``after D`` transition leaving ``state``."""

    transition: str
    after_ms: int


class ProcessDefinition:
    """A compiled process: tables filled in by the generated subclass.

    The subclass also implements ``route``. The methods here are pure: no
    clock, no store, no randomness.
    """

    category: ClassVar[str]
    key_field: ClassVar[str]
    events: ClassVar[tuple[type[Event], ...]]  # the input events
    start_on: ClassVar[tuple[type[Event], ...]]  # events that may create an instance
    cancel_on: ClassVar[tuple[type[Event], ...]]
    machines: ClassVar[tuple[MachineSpec, ...]]
    tasks: ClassVar[TaskTable]
    transitions: ClassVar[TransitionTable]
    timers: ClassVar[TimerTable]
    complete_when: ClassVar[tuple[AllFinal | AllIn, ...]]  # all must hold; empty: never
    fail_when: ClassVar[tuple[AnyIn, ...]]  # any may hold
    lifecycle: ClassVar[LifecycleTypes]

    def route(self, event: Event) -> Sequence[Route]:
        """The machine instances an input event is addressed to."""
        raise NotImplementedError

    # ---- for the runtime ----------------------------------------------------

    def machine(self, name: str) -> MachineSpec:
        return next(m for m in self.machines if m.name == name)

    def is_input(self, event: Event) -> bool:
        return isinstance(event, self.events)

    def is_lifecycle(self, event: Event) -> bool:
        lc = self.lifecycle
        return isinstance(
            event,
            (
                lc.transition_planned,
                lc.task_started,
                lc.task_completed,
                lc.task_failed,
                lc.task_retry_scheduled,
                lc.task_timed_out,
                lc.timer_scheduled,
                lc.timer_fired,
                lc.process_completed,
                lc.process_failed,
                lc.process_cancelled,
            ),
        )

    def can_start(self, event: Event) -> bool:
        """May ``event`` create a process instance (a stream that does not exist yet)?"""
        return isinstance(event, self.start_on)

    def key_of(self, event: Event) -> str:
        """The stream name of an input event: its key field, as text.

        Raises TypeError for an event without the key field (an event the
        process declares but uses nowhere need not have it).
        """
        try:
            value: KeyValue = getattr(event, self.key_field)
        except AttributeError:
            raise TypeError(
                f"event {type(event).__name__} has no key field {self.key_field!r}: "
                f"it cannot be routed to a {self.category} process"
            ) from None
        return str(value)

    def initial_state(self) -> ProcessState:
        """Before the first event: each single-instance machine in its initial state."""
        return ProcessState(
            instances=frozen_map(
                {
                    m.name: frozen_map({m.name: m.initial} if not m.multi_instance else {})
                    for m in self.machines
                }
            ),
            single_instance=frozenset(m.name for m in self.machines if not m.multi_instance),
        )

    def decide(self, state: ProcessState, event: Event, meta: EventMeta) -> list[Event]:
        """The events to record after ``event``: pure, and never raises for a typed event."""
        return engine.decide(self, state, event, meta)

    def evolve(self, state: ProcessState, event: Event) -> ProcessState:
        """Fold one recorded event into the state."""
        return engine.evolve(self, state, event)

    def fold(self, events: Sequence[Event]) -> ProcessState:
        """Replay a stream from the start."""
        state = self.initial_state()
        for event in events:
            state = self.evolve(state, event)
        return state

    def task_input(self, task: TaskInFlight) -> TaskInput:
        """The typed input of a task in flight."""
        return self.tasks[task.task].input.model_validate(json.loads(task.input_json))

    def task_result(self, task: str, result: object) -> dict[str, Any] | None:
        """A handler's return value as the payload of ``TaskCompleted.result``.

        Validates it (a model or a mapping) against the task's result model
        first, so a wrong payload is caught in the worker, not in a later
        decision; raises pydantic's ValidationError.
        """
        model = self.tasks[task].result
        if model is None:
            return None
        return model.model_validate(result, from_attributes=True).model_dump(mode="json")
