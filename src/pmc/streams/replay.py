"""Replay recorded streams with the current definition of a process.

Before a changed process is deployed, every stream already recorded must
still load and fold with the new generated module: each stored event name
must name one of its classes, each payload must validate, every machine,
state, transition and task a ``TransitionPlanned`` names must still be in its
tables, every signal a ``SignalRaised`` names must still be declared, the
``data`` values a transition recorded must still fit the records, and
``evolve`` must fold the stream to the end. ``replay`` checks
exactly that and returns the problems as data: diagnostics located at a
stream position, each with a stable rule id documented in ``docs/replay.md``.
The CLI prints them (``pmc.cli.replay``).

Streams are read as stored (name and JSON payload, see
:mod:`pmc.streams.export`), never through event-sourcery's registry, which
would fail on the first unknown name without saying where, and which keeps
the first class registered for a name rather than the definition's.

``pmc breaking`` compares two ``.pm`` versions without data; this compares a
version with the data itself, so it also catches what only the records show
(a renamed ``initial`` state that recorded transitions still leave from, a
payload a hand-written migration left behind).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from event_sourcery import Event
from pydantic import BaseModel, ValidationError

from pmc.diagnostics import Diagnostic, StreamPosition
from pmc.runtime import (
    ProcessDefinition,
    ProcessState,
    SignalRaisedBase,
    TransitionPlannedBase,
    engine,
)
from pmc.runtime.operator import OperatorMovedBase
from pmc.runtime.stores import ProcessStore
from pmc.streams.export import ExportedEvent, export_streams

# ---- input: streams --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """The recorded events of one process instance, in the order they were read."""

    category: str
    key: str
    events: tuple[ExportedEvent, ...]


def group_streams(events: Iterable[ExportedEvent]) -> list[Stream]:
    """Events by stream, streams by (category, key), each stream by version.

    Sorting is stable, so two events claiming one version keep their order
    and both reach the duplicate check.
    """
    grouped: dict[tuple[str, str], list[ExportedEvent]] = defaultdict(list)
    for event in events:
        grouped[(event.category, event.key)].append(event)
    return [
        Stream(category, key, tuple(sorted(grouped[(category, key)], key=lambda e: e.version)))
        for category, key in sorted(grouped)
    ]


def store_streams(
    store: ProcessStore, category: str, keys: Iterable[str] | None = None
) -> Iterator[Stream]:
    """The streams of ``category`` in ``store`` (all, or those of ``keys``), read one at a time."""
    # export_streams yields each stream whole, by version: group without sorting.
    for key, events in itertools.groupby(export_streams(store, category, keys), lambda e: e.key):
        yield Stream(category, key, tuple(events))


# ---- output: the report ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamReplay:
    """The outcome for one stream: its findings, and its state when it folded."""

    category: str
    key: str
    events: int
    findings: tuple[Diagnostic, ...]
    state: ProcessState | None  # None when the stream could not be folded to the end

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class ReplayReport:
    streams: tuple[StreamReplay, ...]

    @property
    def events(self) -> int:
        return sum(stream.events for stream in self.streams)

    @property
    def failures(self) -> int:
        """How many streams cannot be replayed."""
        return sum(1 for stream in self.streams if not stream.ok)

    @property
    def findings(self) -> tuple[Diagnostic, ...]:
        return tuple(f for stream in self.streams for f in stream.findings)

    @property
    def ok(self) -> bool:
        return self.failures == 0


# ---- what the current definition knows ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    """The names a recorded stream may use, read off a definition once."""

    category: str
    key_field: str
    classes: Mapping[str, type[Event]]  # stored name -> class
    input_events: tuple[type[Event], ...]
    states: Mapping[str, frozenset[str]]  # machine -> its states
    single_instance: frozenset[str]  # machines with one instance, named like the machine
    initial: Mapping[str, str]  # machine -> initial state
    edges: frozenset[tuple[str, str, str, str]]  # (machine, transition, from, to)
    transitions: Mapping[str, frozenset[str]]  # machine -> transition names
    tasks: Mapping[str, type[BaseModel]]  # task -> input model
    transition_planned: type[TransitionPlannedBase]
    outcome_events: tuple[type[Event], ...]  # events naming a machine and transition
    signals: Mapping[str, type[BaseModel]]  # the declared signals -> payload classes
    signal_raised: type[Event] | None  # None: the process declares no signal
    operator_moved: type[OperatorMovedBase]  # names a machine and two of its states

    @classmethod
    def of(cls, definition: ProcessDefinition) -> Catalog:
        lifecycle = definition.lifecycle
        # The generated lifecycle events and the runtime's operator events.
        classes = {
            event_name(event_class): event_class
            for event_class in (*definition.events, *definition.lifecycle_classes())
        }
        transitions: dict[str, set[str]] = defaultdict(set)
        edges = set()
        for (machine, source, _trigger), spec in definition.rows():
            transitions[machine].add(spec.name)
            edges.add((machine, spec.name, str(source), str(spec.target)))
        return cls(
            category=definition.category,
            key_field=definition.key_field,
            classes=classes,
            input_events=tuple(definition.events),
            states={m.name: frozenset(str(s) for s in m.states) for m in definition.machines},
            single_instance=frozenset(m.name for m in definition.machines if not m.multi_instance),
            initial={m.name: str(m.initial) for m in definition.machines},
            edges=frozenset(edges),
            transitions={m: frozenset(names) for m, names in transitions.items()},
            tasks={name: spec.input for name, spec in definition.tasks.items()},
            transition_planned=lifecycle.transition_planned,
            outcome_events=(
                lifecycle.task_completed,
                lifecycle.task_failed,
                lifecycle.timer_scheduled,
                *((lifecycle.signal_raised,) if lifecycle.signal_raised is not None else ()),
            ),
            signals=dict(definition.signals),
            signal_raised=lifecycle.signal_raised,
            operator_moved=definition.operator_events.moved,
        )


def event_name(event_class: type[Event]) -> str:
    """The name a class is stored under (generated classes always set one)."""
    name = getattr(event_class, "__event_name__", "")
    return name if isinstance(name, str) and name else event_class.__qualname__


# ---- replay --------------------------------------------------------------------------------


def replay(definition: ProcessDefinition, streams: Iterable[Stream]) -> ReplayReport:
    """Load and fold every stream with ``definition``; never raises for bad data."""
    catalog = Catalog.of(definition)
    return ReplayReport(tuple(replay_stream(definition, catalog, s) for s in streams))


def replay_stream(definition: ProcessDefinition, catalog: Catalog, stream: Stream) -> StreamReplay:
    """Check one stream: its category and versions, every event, then the fold.

    Every event is loaded, so one run lists all the events that no longer
    load; the fold, whose later steps depend on earlier ones, runs only on a
    stream that loaded completely and stops at its first problem.
    """
    where = _Locator(stream)
    foreign = list(_check_category(catalog, where))
    if foreign:
        # Its event names carry the other process's name too: listing each
        # of them as unknown would bury the one finding that matters.
        return StreamReplay(stream.category, stream.key, len(stream.events), tuple(foreign), None)
    findings = list(_check_versions(where))
    loaded: list[Event] = []
    for recorded in stream.events:
        event, problems = _load_event(catalog, where, recorded)
        findings.extend(problems)
        if event is not None:
            loaded.append(event)
    state = None
    if not findings:
        state, problems = _fold(definition, catalog, where, stream.events, loaded)
        findings.extend(problems)
    return StreamReplay(stream.category, stream.key, len(stream.events), tuple(findings), state)


@dataclass(frozen=True, slots=True)
class _Locator:
    """Builds findings that point at a stream (and an event of it)."""

    stream: Stream

    def finding(
        self, code: str, message: str, version: int, event: str | None = None
    ) -> Diagnostic:
        position = StreamPosition(self.stream.category, self.stream.key, version, event)
        return Diagnostic(code, message, position)

    def at(self, code: str, message: str, recorded: ExportedEvent) -> Diagnostic:
        return self.finding(code, message, recorded.version, recorded.event)


def _check_category(catalog: Catalog, where: _Locator) -> Iterator[Diagnostic]:
    if where.stream.category != catalog.category:
        first = where.stream.events[0].version if where.stream.events else 1
        yield where.finding(
            "REPLAY_UNKNOWN_CATEGORY",
            f"stream of category `{where.stream.category}`, but this process records "
            f"under `{catalog.category}` (was the process renamed?)",
            first,
        )


def _check_versions(where: _Locator) -> Iterator[Diagnostic]:
    expected = 1
    for recorded in where.stream.events:
        if recorded.version < expected:
            yield where.at(
                "REPLAY_DUPLICATE_VERSION",
                f"version {recorded.version} is recorded more than once",
                recorded,
            )
            continue
        if recorded.version > expected:
            missing = (
                f"version {expected}"
                if recorded.version == expected + 1
                else f"versions {expected} to {recorded.version - 1}"
            )
            yield where.at(
                "REPLAY_VERSION_GAP",
                f"{missing} missing before version {recorded.version}",
                recorded,
            )
        expected = recorded.version + 1


# ---- loading one event ------------------------------------------------------------------


def _load_event(
    catalog: Catalog, where: _Locator, recorded: ExportedEvent
) -> tuple[Event | None, list[Diagnostic]]:
    """The event as the current class, or why it cannot be one."""
    event_class = catalog.classes.get(recorded.event)
    if event_class is None:
        return None, [
            where.at(
                "REPLAY_UNKNOWN_EVENT",
                f"`{recorded.event}` is not an event of process `{catalog.category}`",
                recorded,
            )
        ]
    # Names first: a removed state or transition also fails validation (the
    # generated fields are enums and Literals), but naming it is more useful
    # than pydantic's list of allowed values.
    problems = list(_check_names(catalog, where, event_class, recorded))
    if problems:
        return None, problems
    try:
        event = event_class.model_validate(dict(recorded.payload))
    except ValidationError as error:
        return None, [where.at("REPLAY_INVALID_PAYLOAD", describe_errors(error), recorded)]
    problems = [
        *_check_key(catalog, where, event, recorded),
        *_check_task_input(catalog, where, event, recorded),
        *_check_signal_payload(catalog, where, event, recorded),
    ]
    return (None, problems) if problems else (event, [])


def _check_names(
    catalog: Catalog, where: _Locator, event_class: type[Event], recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    """Machine, state, transition and task names a lifecycle event records.

    Only names recorded as strings are checked here; a missing or mistyped
    field is left to validation.
    """
    if event_class is catalog.operator_moved:
        yield from _check_moved(catalog, where, recorded)
        return
    if event_class is not catalog.transition_planned and event_class not in catalog.outcome_events:
        return
    payload = recorded.payload
    if event_class is catalog.signal_raised:
        yield from _check_signal(catalog, where, recorded)
    machine = payload.get("machine")
    if not isinstance(machine, str):
        return
    if machine not in catalog.states:
        yield where.at("REPLAY_UNKNOWN_MACHINE", f"unknown machine `{machine}`", recorded)
        return
    transition = payload.get("transition")
    if event_class is not catalog.transition_planned:
        if isinstance(transition, str) and transition not in catalog.transitions.get(machine, ()):
            yield where.at(
                "REPLAY_UNKNOWN_TRANSITION",
                f"machine `{machine}` has no transition `{transition}`",
                recorded,
            )
        return
    yield from _check_planned(catalog, where, machine, recorded)


def _check_moved(
    catalog: Catalog, where: _Locator, recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    """The machine and states an operator's move names (it names no transition)."""
    machine = recorded.payload.get("machine")
    if not isinstance(machine, str):
        return
    if machine not in catalog.states:
        yield where.at("REPLAY_UNKNOWN_MACHINE", f"unknown machine `{machine}`", recorded)
        return
    for name in ("from_state", "to_state"):
        state = recorded.payload.get(name)
        if isinstance(state, str) and state not in catalog.states[machine]:
            message = f"machine `{machine}` has no state `{state}`"
            yield where.at("REPLAY_UNKNOWN_STATE", message, recorded)


def _check_signal(
    catalog: Catalog, where: _Locator, recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    signal = recorded.payload.get("signal")
    if isinstance(signal, str) and signal not in catalog.signals:
        yield where.at("REPLAY_UNKNOWN_SIGNAL", f"unknown signal `{signal}`", recorded)


def _check_planned(
    catalog: Catalog, where: _Locator, machine: str, recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    payload = recorded.payload
    states = catalog.states[machine]
    unknown = [
        state
        for state in (payload.get("from_state"), payload.get("to_state"))
        if isinstance(state, str) and state not in states
    ]
    for state in dict.fromkeys(unknown):
        message = f"machine `{machine}` has no state `{state}`"
        yield where.at("REPLAY_UNKNOWN_STATE", message, recorded)
    task = payload.get("task")
    if isinstance(task, str) and task not in catalog.tasks:
        yield where.at("REPLAY_UNKNOWN_TASK", f"unknown task `{task}`", recorded)
    transition, source, target = (payload.get(f) for f in ("transition", "from_state", "to_state"))
    if unknown or not all(isinstance(v, str) for v in (transition, source, target)):
        return
    if (machine, transition, source, target) not in catalog.edges:
        known = transition in catalog.transitions.get(machine, ())
        reason = f"no longer leads from `{source}` to `{target}`" if known else "is not declared"
        yield where.at(
            "REPLAY_UNKNOWN_TRANSITION",
            f"transition `{transition}` of machine `{machine}` {reason}",
            recorded,
        )


def _check_key(
    catalog: Catalog, where: _Locator, event: Event, recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    # Only input events carry the key: the manager names their stream with it
    # (a changed key field or key type would file new events elsewhere).
    if not isinstance(event, catalog.input_events):
        return
    value = str(getattr(event, catalog.key_field))
    if value != where.stream.key:
        yield where.at(
            "REPLAY_KEY_MISMATCH",
            f"key field `{catalog.key_field}` is `{value}`, "
            f"but the event is in stream `{where.stream.key}`",
            recorded,
        )


def _check_task_input(
    catalog: Catalog, where: _Locator, event: Event, recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    # A pending task is started from its recorded input, validated by the
    # current task model: a task whose input no longer validates cannot run.
    if not isinstance(event, catalog.transition_planned):
        return
    model = catalog.tasks.get(str(event.task))
    if model is None or event.task_input is None:
        return
    what = f"input of task `{event.task}`"
    yield from _invalid(
        model, event.task_input, ("REPLAY_INVALID_TASK_INPUT", what), where, recorded
    )


def _check_signal_payload(
    catalog: Catalog, where: _Locator, event: Event, recorded: ExportedEvent
) -> Iterator[Diagnostic]:
    # A recorded signal's payload is an event payload too, stored inside
    # ``SignalRaised``: it must still validate against its signal's class.
    if not isinstance(event, SignalRaisedBase):
        return
    model = catalog.signals.get(event.signal)
    if model is None:
        return
    what = f"payload of signal `{event.signal}`"
    yield from _invalid(model, event.payload, ("REPLAY_INVALID_PAYLOAD", what), where, recorded)


def _invalid(
    model: type[BaseModel],
    value: object,
    finding: tuple[str, str],
    where: _Locator,
    recorded: ExportedEvent,
) -> Iterator[Diagnostic]:
    """The finding ``(id, what)`` if ``model`` rejects ``value``, quoting pydantic."""
    try:
        model.model_validate(value)
    except ValidationError as error:
        code, what = finding
        yield where.at(code, f"{what}: {describe_errors(error)}", recorded)


def describe_errors(error: ValidationError, limit: int = 3) -> str:
    """pydantic's errors in one line: ``field `a.b`: message; ...``."""
    parts = []
    for item in error.errors(include_url=False)[:limit]:
        location = ".".join(str(part) for part in item["loc"])
        parts.append(f"field `{location}`: {item['msg']}" if location else str(item["msg"]))
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


# ---- folding -------------------------------------------------------------------------------


def _fold(
    definition: ProcessDefinition,
    catalog: Catalog,
    where: _Locator,
    records: Sequence[ExportedEvent],
    events: Sequence[Event],
) -> tuple[ProcessState | None, list[Diagnostic]]:
    """Fold the loaded events; stop at the first one that does not fit the state."""
    state = definition.initial_state()
    for recorded, event in zip(records, events, strict=True):
        mismatch = _check_source_state(catalog, state, event)
        if mismatch is not None:
            return None, [where.at("REPLAY_STATE_MISMATCH", mismatch, recorded)]
        misfit = _check_data(definition, catalog, state, event)
        if misfit is not None:
            return None, [where.at("REPLAY_INVALID_DATA", misfit, recorded)]
        try:
            state = definition.evolve(state, event)
        except Exception as error:  # any bug in evolve is a finding, never a crash
            message = f"evolve raised {type(error).__name__}: {error}"
            return None, [where.at("REPLAY_EVOLVE_ERROR", message, recorded)]
    return state, []


def _check_data(
    definition: ProcessDefinition, catalog: Catalog, state: ProcessState, event: Event
) -> str | None:
    """Why the values a ``TransitionPlanned`` recorded for ``set`` no longer fit, if they do not.

    Checked against the records as replay has them so far (a new instance's
    are its machine's defaults), the way ``evolve`` will apply them.
    """
    if not isinstance(event, catalog.transition_planned):
        return None
    instance = engine.instance_record(definition, state, event.machine, event.machine_id)
    for scope, record, values in (
        ("data", state.data, event.data_set),
        ("instance", instance, event.instance_set),
    ):
        try:
            engine.with_recorded(record, values)
        except ValidationError as error:
            return (
                f"the `{scope}` values transition `{event.transition}` set no longer fit"
                f" `{type(record).__name__}`: {describe_errors(error)}"
            )
    return None


def _check_source_state(catalog: Catalog, state: ProcessState, event: Event) -> str | None:
    """Why a ``TransitionPlanned`` (or an operator's move) cannot have been decided in
    ``state``, if it cannot."""
    if isinstance(event, catalog.operator_moved):
        current = state.state_of(event.machine, event.machine_id)
        if current == event.from_state:
            return None
        return (
            f"an operator moved `{event.machine}` instance `{event.machine_id}` from"
            f" `{event.from_state}`, but on replay it is in `{current}`"
        )
    if not isinstance(event, catalog.transition_planned):
        return None
    machine, machine_id, source = event.machine, event.machine_id, str(event.from_state)
    if machine in catalog.single_instance and machine_id != machine:
        return f"machine `{machine}` now has a single instance, but `{machine_id}` is recorded"
    current = state.state_of(machine, machine_id)
    if current is None:
        # An instance of a multi-instance machine is created in ``initial``.
        current = catalog.initial[machine]
    if current == source:
        return None
    return (
        f"transition `{event.transition}` leaves `{source}`, but on replay "
        f"`{machine}` instance `{machine_id}` is in `{current}`"
    )
