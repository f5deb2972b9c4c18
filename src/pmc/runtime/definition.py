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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar
from uuid import UUID

from event_sourcery import Event
from pydantic import TypeAdapter, ValidationError

from pmc.errors import PmcError
from pmc.runtime import contract, engine
from pmc.runtime.contract import (
    MAX_DELAY_MS,
    AllFinal,
    AllIn,
    AnyIn,
    Binder,
    DataCondition,
    EventMeta,
    MachineSpec,
    RetrySpec,
    Route,
    TaskMode,
    TaskSpec,
    TaskTable,
    TimerSpec,
    TimerTable,
    TransitionKey,
    TransitionRow,
    TransitionSpec,
    TransitionTable,
    WildcardTable,
    WildcardTimerTable,
    row_specs,
)
from pmc.runtime.lifecycle import LifecycleTypes, ProcessData, SignalPayload, TaskInput
from pmc.runtime.operator import OperatorTypes, operator_types
from pmc.runtime.state import KeyValue, ProcessState, TaskInFlight, frozen_map, stream_key

# The table and spec types live in ``contract`` now; they are still exported
# from here for the modules that import them from this one.
__all__ = [
    "MAX_DELAY_MS",
    "AllFinal",
    "AllIn",
    "AnyIn",
    "Binder",
    "EventMeta",
    "MachineSpec",
    "ProcessDefinition",
    "RetrySpec",
    "Route",
    "TaskContext",
    "TaskMode",
    "TaskSpec",
    "TaskTable",
    "TimerSpec",
    "TimerTable",
    "TransitionKey",
    "TransitionSpec",
    "TransitionTable",
    "WildcardTable",
    "WildcardTimerTable",
]


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


class PermanentFailure(PmcError):
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


_KEY_ADAPTERS: dict[type, TypeAdapter[Any]] = {int: TypeAdapter(int), UUID: TypeAdapter(UUID)}


_KEY_TYPES: dict[type[ProcessDefinition], type | None] = {}


def _declared_key_type(definition: type[ProcessDefinition]) -> type | None:
    """``int`` or ``UUID`` if that is how the key field is declared; None for ``str``.

    Read from the key field of the input events (the start events first):
    the compiler checks that every event carrying it declares one type.
    """
    if definition in _KEY_TYPES:
        return _KEY_TYPES[definition]
    found: type | None = None
    for event in (*definition.start_on, *definition.events):
        field_info = event.model_fields.get(definition.key_field)
        if field_info is not None:
            declared = field_info.annotation
            found = int if declared is int else UUID if declared is UUID else None
            break
    _KEY_TYPES[definition] = found
    return found


class ProcessDefinition:
    """A compiled process: tables filled in by the generated subclass.

    The subclass also implements ``route``. The methods here are pure: no
    clock, no store, no randomness.

    ``api`` is the runtime API the subclass was generated for (a module of
    pmc 0.1.0 declares none: API 1). Defining a subclass checks that this
    runtime supports it and that every table of that API is there, so an
    incompatible or incomplete module fails at import (``IncompatibleModule``).
    """

    api: ClassVar[int] = 1
    category: ClassVar[str]
    key_field: ClassVar[str]
    events: ClassVar[tuple[type[Event], ...]]  # the input events
    start_on: ClassVar[tuple[type[Event], ...]]  # events that may create an instance
    cancel_on: ClassVar[tuple[type[Event], ...]]
    machines: ClassVar[tuple[MachineSpec, ...]]
    tasks: ClassVar[TaskTable]
    transitions: ClassVar[TransitionTable]
    timers: ClassVar[TimerTable]
    # ``*`` rows, looked up after the exact ones (API 2; empty for API 1,
    # whose modules expanded ``*`` into ``transitions`` and ``timers``).
    wildcard_transitions: ClassVar[WildcardTable]
    wildcard_timers: ClassVar[WildcardTimerTable]
    complete_when: ClassVar[tuple[AllFinal | AllIn | DataCondition, ...]]  # all; empty: never
    fail_when: ClassVar[tuple[AnyIn | DataCondition, ...]]  # any may hold
    lifecycle: ClassVar[LifecycleTypes]
    # API 4, optional: a module without data or signals leaves them out.
    data_model: ClassVar[type[ProcessData] | None] = None  # None: NoData
    signals: ClassVar[Mapping[str, type[SignalPayload]]] = frozen_map()
    # Not generated: the runtime defines them for every definition class
    # (``pmc.runtime.operator``), so modules of any API can be operated.
    operator_events: ClassVar[OperatorTypes]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        contract.check_definition(cls, cls.api)
        # Defined with the class, before any stream is read: the store
        # finds a stored operator event's class by its name.
        cls.operator_events = operator_types(cls.lifecycle)
        # API 1 modules expanded `*` into the exact tables: no wildcard rows.
        if not hasattr(cls, "wildcard_transitions"):
            cls.wildcard_transitions = {}
        if not hasattr(cls, "wildcard_timers"):
            cls.wildcard_timers = {}

    def route(self, event: Event) -> Sequence[Route]:
        """The machine instances an input event is addressed to."""
        raise NotImplementedError

    def route_signal(self, payload: SignalPayload) -> Sequence[Route]:
        """The machine instances a raised signal is addressed to (API 4)."""
        return ()

    # ---- for the runtime ----------------------------------------------------

    # The lookups below run several times per decision: each is worked out
    # once per definition, from its class's tables, which never change.

    @cached_property
    def _machines(self) -> Mapping[str, MachineSpec]:
        return {m.name: m for m in self.machines}

    def machine(self, name: str) -> MachineSpec:
        return self._machines[name]  # KeyError: no such machine

    @cached_property
    def _rows(self) -> dict[tuple[str, str, str], TransitionRow | None]:
        return {}

    @cached_property
    def _timers(self) -> dict[tuple[str, str], tuple[TimerSpec, ...]]:
        return {}

    def transition(self, machine: str, state: str, trigger: str) -> TransitionRow | None:
        """The row of transitions ``trigger`` may take an instance of ``machine`` in ``state`` on.

        The state's own row first; failing that, the machine's ``*`` row,
        which stands for every non-final state. A row is one transition, or
        (API 4) several in source order, of which the first whose guard holds
        is taken (``contract.row_specs`` lists them).
        """
        key = (machine, state, trigger)
        try:
            return self._rows[key]
        except KeyError:
            own = self.transitions.get(key)
            found = own
            if own is None and state not in self.machine(machine).final:
                found = self.wildcard_transitions.get((machine, trigger))
            # Keys come from the tables and the declared events: a bounded set.
            self._rows[key] = found
            return found

    def timers_in(self, machine: str, state: str) -> tuple[TimerSpec, ...]:
        """The ``after D`` timers of ``state``: its own, then the machine's ``*`` ones."""
        key = (machine, state)
        try:
            return self._timers[key]
        except KeyError:
            own = self.timers.get(key, ())
            if state not in self.machine(machine).final:
                own += self.wildcard_timers.get(machine, ())
            self._timers[key] = own
            return own

    def rows(self) -> Iterator[tuple[TransitionKey, TransitionSpec]]:
        """Every (machine, state, trigger) and transition of its row, ``*`` rows
        expanded (for tools, not decisions): a row of several guarded
        transitions gives one item per transition, in source order."""
        for key, row in self.transitions.items():
            for spec in row_specs(row):
                yield key, spec
        for (machine, trigger), row in self.wildcard_transitions.items():
            final = self.machine(machine).final
            for state in self.machine(machine).states:
                if state not in final and (machine, state, trigger) not in self.transitions:
                    for spec in row_specs(row):
                        yield (machine, str(state), trigger), spec

    def is_input(self, event: Event) -> bool:
        return isinstance(event, self.events)

    def is_lifecycle(self, event: Event) -> bool:
        return isinstance(event, self._lifecycle_types)

    @cached_property
    def _lifecycle_types(self) -> tuple[type[Event], ...]:
        return self.lifecycle_classes()

    def lifecycle_classes(self) -> tuple[type[Event], ...]:
        """Every class of event the runtime records for this process: the generated
        lifecycle events, then the operator events (``pmc.runtime.operator``)."""
        lc = self.lifecycle
        return (
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
            *((lc.signal_raised,) if lc.signal_raised is not None else ()),
            *self.operator_events.all(),
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

    def stream_key(self, key: KeyValue) -> str:
        """The stream name of process key ``key``, taken as the key field is declared.

        ``key`` is converted as the key field of an input event converts it,
        so it names the stream ``handle`` records that event in: for an
        ``int`` key, ``1``, ``"1"``, ``"01"`` and ``" 1"`` all name ``"1"``;
        for a ``UUID`` key, a UUID or its text in any accepted form (upper
        case, without dashes, in braces) names its canonical lowercase text;
        for a ``str`` key, ``str(key)``. Text the key's type cannot take is a
        ``ValueError``, and a value of another key type (a UUID for an
        ``int`` key) or of no key type (``True``, ``1.0``) a ``TypeError``:
        either would name a stream that can never exist.
        """
        text = stream_key(key)  # refuses what no key field holds
        declared = _declared_key_type(type(self))
        if declared is None:
            return text
        name = f"a{'n' if declared is int else ''} {declared.__name__}"
        if isinstance(key, str):
            try:
                return str(_KEY_ADAPTERS[declared].validate_python(key))
            except ValidationError:
                raise ValueError(
                    f"process key {key!r} is not the text of {name} "
                    f"(the key `{self.key_field}` of {self.category} is declared {name})"
                ) from None
        if not isinstance(key, declared):
            raise TypeError(
                f"the key of {self.category} (`{self.key_field}`) is {name}, "
                f"not {type(key).__name__}"
            )
        return text

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
            data=engine.default_record(self.data_model),
            instance_data=frozen_map(
                {
                    m.name: frozen_map(
                        {m.name: engine.default_record(m.data)} if not m.multi_instance else {}
                    )
                    for m in self.machines
                }
            ),
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
