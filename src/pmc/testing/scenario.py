"""Scenarios: a process run on the real runtime, on a fake clock, step by step, then checked.

A scenario owns a store (memory by default), a ``ProcessManager`` and a
``Worker`` (one attempt at a time, so runs are deterministic) sharing
``FakeTasks``. Each step (``given``, ``when``, ``when_task_runs``,
``run_due``, ``advance``) records what it does in the store; the
``expect_*`` methods check what the last step recorded, or the state it left.
A scenario follows one process instance: the stream of the first event's key.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from event_sourcery import Event
from pydantic import ValidationError

from pmc.errors import PmcError
from pmc.runtime.definition import ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import (
    SignalRaisedBase,
    TimerFiredBase,
    TimerScheduledBase,
    TransitionPlannedBase,
)
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operations import Operations
from pmc.runtime.state import End, ProcessState, TaskInFlight, TaskStatus
from pmc.runtime.stores import NewEvent, ProcessStore, StoredEvent, open_store
from pmc.runtime.work import work_changes
from pmc.runtime.worker import Worker
from pmc.streams.export import ExportedEvent, read_json_lines
from pmc.streams.replay import Catalog
from pmc.testing.clock import FakeClock, check_forward
from pmc.testing.render import (
    duration_text,
    listed,
    shortened,
    stream_lines,
    transition_text,
)
from pmc.testing.tasks import AttemptHung, FakeTasks, Outcome, ScriptError

WORKER_ID = "pmc-testing"
# A process that plans work forever must not hang a test: ``run_due`` and
# ``advance`` stop with an error after this many rounds of work due at one instant.
MAX_ROUNDS = 1000


# Recorded events given are appended this many at a time: one transaction each,
# short enough for any store's statement limits.
APPEND_CHUNK = 500


class ExpectationFailed(PmcError, AssertionError):
    """An ``expect_*`` of a scenario did not hold.

    The message shows what was expected, what was found, and the stream.
    """


class ScenarioError(PmcError):
    """A scenario was asked something it cannot do (no event yet, another instance's event)."""


class _NoField:
    """What ``expect_data`` finds of a field the data has not: equal to no value, shown
    as the text it used to be."""

    def __repr__(self) -> str:
        return "'(no such field)'"


_NO_FIELD = _NoField()


class _HasDefinition(Protocol):
    DEFINITION: ProcessDefinition


Given = Event | StoredEvent | ExportedEvent
_W = TypeVar("_W")
_F = TypeVar("_F")

_TRANSITION = re.compile(
    r"^(?P<machine>\w+)(\[(?P<id>[^\]]*)\])?:\s*(?P<source>\w+)\s*->\s*(?P<target>\w+)"
    r"(\s*\((?P<name>\w+)\))?$"
)


def transition_pattern(expected: str) -> dict[str, str | None]:
    """The parts of ``Machine[id]: From -> To (name)``; ``[id]`` and ``(name)`` may be
    left out (None), and then match any."""
    match = _TRANSITION.match(expected.strip())
    if match is None:
        raise ScenarioError(
            f"cannot read the transition {expected!r}: write `Machine: From -> To`, "
            "optionally `Machine[id]: From -> To (transition)`"
        )
    return match.groupdict()


def transition_matches(pattern: Mapping[str, str | None], planned: TransitionPlannedBase) -> bool:
    """Whether ``planned`` has every part the ``transition_pattern`` names."""
    found = {
        "machine": planned.machine,
        "id": planned.machine_id,
        "source": planned.from_state,
        "target": planned.to_state,
        "name": planned.transition,
    }
    return all(value is None or found[part] == value for part, value in pattern.items())


class MakeScenario(Protocol):
    """The ``scenario`` fixture of the pytest plugin: makes scenarios closed after the test."""

    def __call__(
        self,
        process: ProcessDefinition | _HasDefinition,
        store: str = "memory",
        default: Outcome | None = None,
    ) -> Scenario: ...


def definition_of(process: ProcessDefinition | _HasDefinition) -> ProcessDefinition:
    """The definition itself, or a generated module's ``DEFINITION``."""
    if isinstance(process, ProcessDefinition):
        return process
    found = getattr(process, "DEFINITION", None)
    if not isinstance(found, ProcessDefinition):
        raise ScenarioError(f"{process!r} is neither a process definition nor a generated module")
    return found


class Scenario:
    """One process instance, run on the real runtime with scripted tasks and a fake clock.

    ``store`` is a store URL (``memory://``, ``sqlite:///path``) or an open
    store, which must run on ``clock``. ``default`` is the outcome of tasks
    left unscripted; without it, one that runs is a ``ScriptError``.
    """

    def __init__(
        self,
        process: ProcessDefinition | _HasDefinition,
        store: str | ProcessStore = "memory://",
        *,
        clock: FakeClock | None = None,
        default: Outcome | None = None,
    ) -> None:
        if not isinstance(store, str) and clock is None:
            # The store reads its own clock: the scenario must move that one.
            raise ScenarioError("a scenario given an open store needs the FakeClock it runs on")
        self.definition = definition_of(process)
        self.clock = clock or FakeClock()
        self.start = self.clock()
        self.store = open_store(store, clock=self.clock) if isinstance(store, str) else store
        self._owns_store = isinstance(store, str)
        self.tasks = FakeTasks(self.definition, default)
        self.tasks.on_time_out = self._time_out
        # The runner of sync tasks named as the worker, not at random: a failure
        # message shows the same stream on every run.
        self.manager = ProcessManager(
            self.definition, self.store, self.tasks, with_worker=True, runner_id=WORKER_ID
        )
        self.worker = Worker(self.definition, self.store, self.tasks, worker_id=WORKER_ID)
        self._key: str | None = None
        self._step = "no step yet"
        self._mark = 0  # the stream's version before the last step
        self._deliveries = 0

    def close(self) -> None:
        """Close the store, if the scenario opened it."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- what the scenario looks at -----------------------------------------------------

    @property
    def key(self) -> str:
        if self._key is None:
            raise ScenarioError("no event was given yet: the scenario follows no instance")
        return self._key

    @property
    def now(self) -> datetime:
        return self.clock()

    @property
    def state(self) -> ProcessState:
        return self.manager.state(self.key)

    @property
    def history(self) -> list[StoredEvent]:
        return self.manager.history(self.key)

    def step_events(self) -> list[Event]:
        """The events the last step recorded, in order."""
        return [stored.event for stored in self.history if stored.version > self._mark]

    def transitions(self) -> list[TransitionPlannedBase]:
        """The transitions the last step planned, in order."""
        return _of_type(self.step_events(), TransitionPlannedBase)

    # ---- steps ----------------------------------------------------------------------------

    def script(
        self, task: str, *outcomes: Outcome | Sequence[Outcome], machine_id: str | None = None
    ) -> Scenario:
        """What the next calls of ``task`` (of one instance) do: see ``FakeTasks.script``."""
        self.tasks.script(task, *outcomes, machine_id=machine_id)
        return self

    def given(self, *events: Given, run_due: bool = True) -> Scenario:
        """What happened before: input events handled (and the work they make due run),
        or recorded events (``StoredEvent``s, ``pmc export`` lines) appended as they are."""
        self._begin(f"given {', '.join(type(e).__name__ for e in events)}", events)
        recorded: list[Given] = []  # the run of recorded events since the last input
        for event in events:
            if isinstance(event, Event) and self.definition.is_input(event):
                self._append_recorded(recorded)
                recorded = []
                self._handle(event)
            else:
                recorded.append(event)
        self._append_recorded(recorded)
        return self._finish(run_due)

    def given_stream(self, lines: Iterable[str] | Path) -> Scenario:
        """A stream recorded by ``pmc export`` (a JSON-lines file, or its lines), as given."""
        text = lines.read_text(encoding="utf-8").splitlines() if isinstance(lines, Path) else lines
        exported = list(read_json_lines(text))
        categories = {e.category for e in exported}
        if categories - {self.definition.category}:
            raise ScenarioError(
                f"the stream holds events of {', '.join(sorted(categories))}, "
                f"not only of {self.definition.category}"
            )
        return self.given(*exported, run_due=False)

    def when(self, event: Event, *, run_due: bool = True) -> Scenario:
        """``event`` arrives; then the work it makes due runs, unless ``run_due=False``."""
        self._begin(f"when {type(event).__name__}", [event])
        self._handle(event)
        return self._finish(run_due)

    def _handle(self, event: Event) -> None:
        # A delivery id of its own per event, not a random one: the ids of what
        # is decided on it derive from it, and the worker takes work in the
        # order of those ids, so a scenario runs the same way every time.
        self._deliveries += 1
        with _in_flight_if_hung():  # a sync task ``time_out()`` scripted, run inline
            self.manager.handle(event, event_id=f"pmc-testing-{self._deliveries}")

    def when_task_runs(
        self, task: str, outcome: Outcome | None = None, *, machine_id: str | None = None
    ) -> Scenario:
        """The one attempt of ``task`` (of ``machine_id``'s instance) runs now, before the rest,
        answering ``outcome`` if given (else as scripted); then the sync tasks its outcome
        planned, as after any attempt. An attempt not due yet (a retry) or running already
        is a ``ScenarioError``; ``outcome`` answers this attempt only."""
        self._begin(f"when {task} runs", [])
        found = [
            t
            for t in self.state.tasks.values()
            if t.task == task and machine_id in (None, t.machine_id)
        ]
        if len(found) != 1:
            where = "" if machine_id is None else f" of {machine_id}"
            raise ScenarioError(
                f"{len(found)} tasks {task}{where} are in flight, not one\n"
                f"{self._stream(marked=False)}"
            )
        self._check_due(found[0])
        if outcome is not None:
            self.tasks.next_call(task, found[0].machine_id, outcome)
        try:
            with _in_flight_if_hung():
                self.manager.run_attempt(self.key, found[0], WORKER_ID, self.worker.lease)
        finally:
            # The step's outcome answers this attempt or none: never a later step's.
            self.tasks.forget_next_calls()
        # As a worker does after an attempt: the sync tasks its outcome planned run now.
        with _in_flight_if_hung():
            self.manager.run_sync_tasks(self.key)
        return self._finish(run_due=False)

    def _check_due(self, task: TaskInFlight) -> None:
        """Refuse to run an attempt a worker could not start now."""
        now = self.clock()
        if task.not_before is not None and task.not_before > now:
            raise ScenarioError(
                f"attempt {task.attempt} of {task.task} is not due yet: it is due at "
                f"{task.not_before.isoformat()} (in {duration_text(task.not_before - now)}); "
                f"advance to it first\n{self._stream(marked=False)}"
            )
        if task.status is TaskStatus.RUNNING:
            raise ScenarioError(
                f"attempt {task.attempt} of {task.task} is running already "
                f"(its lease ends at {task.lease_until})\n{self._stream(marked=False)}"
            )

    def run_due(self) -> Scenario:
        """Everything due now runs: attempts, their retries due, timeouts, timers."""
        self._begin("when the work due runs", [])
        return self._finish(run_due=True)

    def advance(self, delta: timedelta) -> Scenario:
        """Time passes: each timer, retry and timeout comes due in turn, at its own time,
        and runs then; the clock ends ``delta`` later."""
        check_forward(delta)
        self._begin(f"after {duration_text(delta)}", [])
        until = self.clock() + delta
        # Rounds are counted per due instant: a poller advanced by a day runs a
        # round a minute, a runaway is work still due at one instant.
        rounds, last = 0, None
        while (due := self.store.next_due(self.definition.category, self.key)) is not None:
            if due > until:
                break
            rounds = rounds + 1 if due == last else 1
            if rounds > MAX_ROUNDS:
                self._runaway(due)
            last = due
            self.clock.move_to(due)
            self._drain()
        self.clock.move_to(until)
        return self._finish(run_due=True)

    def _runaway(self, due: datetime) -> NoReturn:
        raise ScenarioError(
            f"work still due at {due.isoformat()} after {MAX_ROUNDS} rounds "
            f"({self._step}): does the process plan work forever?\n{self._stream()}"
        )

    def _begin(self, step: str, events: Sequence[Given]) -> None:
        """Start a step on ``events``, which must be of the scenario's instance."""
        keys = [key for key in map(self._key_of, events) if key is not None]
        if self._key is None and keys:
            self._key = keys[0]
        others = sorted(set(keys) - {self.key})
        if others:
            raise ScenarioError(
                f"the scenario follows the instance {self.key!r}, "
                f"not {', '.join(map(repr, others))}: a scenario follows one instance"
            )
        self._step = step
        self._mark = self.store.version(self.definition.category, self.key)

    def _finish(self, run_due: bool) -> Scenario:
        if run_due:
            self._drain()
        # Taken, not read: a step reports the unscripted calls it made, once.
        unscripted = self.tasks.take_unscripted()
        if unscripted:
            missing = ", ".join(dict.fromkeys(unscripted))
            raise ScriptError(
                f"task {missing} ran but is not scripted: script it "
                f"(scenario.script({unscripted[0]!r}, succeed(...))) "
                f"or give the scenario a default outcome\n{self._stream()}"
            )
        return self

    def _drain(self) -> None:
        """Run the work due now; an attempt that hung stops the worker's round, as its
        runner would stop, and the rest of the work due runs on."""
        for _ in range(MAX_ROUNDS):
            try:
                self.worker.drain(MAX_ROUNDS)
            except AttemptHung:
                continue
            except RuntimeError:  # the worker's runaway guard, at the clock's one instant
                break
            return
        self._runaway(self.clock())

    def _key_of(self, given: Given) -> str | None:
        """The instance (stream key) of ``given``; None for the runtime's own events,
        which name none."""
        if isinstance(given, ExportedEvent):
            return given.key
        event = given.event if isinstance(given, StoredEvent) else given
        if self.definition.is_lifecycle(event):
            return None
        if not self.definition.is_input(event):
            raise ScenarioError(
                f"{type(event).__name__} is not an event of {self.definition.category}"
            )
        try:
            return self.definition.key_of(event)
        except TypeError as error:
            raise ScenarioError(str(error)) from None

    def _append_recorded(self, given: Sequence[Given]) -> None:
        """Append recorded events as they are, keeping the work index and instance rows true.

        The stream is loaded and folded once and the index rebuilt once, however
        many events: a long recorded stream is given in time linear in its length.
        """
        if not given:
            return
        category = self.definition.category
        history = [stored.event for stored in self.store.load(category, self.key)]
        state = self.definition.fold(history) if history else self.definition.initial_state()
        version = len(history)
        recorded = [self._recorded(each) for each in given]
        for first in range(0, len(recorded), APPEND_CHUNK):
            chunk = recorded[first : first + APPEND_CHUNK]
            before = state
            for event, _ in chunk:
                state = self.definition.evolve(state, event)
            self.store.append(
                category,
                self.key,
                [NewEvent(event, event_id) for event, event_id in chunk],
                expected_version=version,
                work=work_changes(before, state, self.clock()),
            )
            version += len(chunk)
        Operations(self.definition, self.store).reindex()

    def _recorded(self, given: Given) -> tuple[Event, uuid.UUID]:
        if isinstance(given, StoredEvent):
            return given.event, given.event_id
        if isinstance(given, ExportedEvent):
            classes = Catalog.of(self.definition).classes
            if given.event not in classes:
                raise ScenarioError(f"{given.event} is not an event of {self.definition.category}")
            try:
                event = classes[given.event].model_validate(dict(given.payload))
            except ValidationError as error:
                raise ScenarioError(
                    f"version {given.version} ({given.event}) does not load: {error}"
                ) from None
            return event, given.event_id
        return given, uuid.uuid4()

    def _time_out(self, _ctx: TaskContext) -> None:
        """The attempt hangs: no outcome; the worker finds its lease over in time."""
        raise AttemptHung

    # ---- expectations ---------------------------------------------------------------------

    def expect_transitions(self, *expected: str, ordered: bool = True) -> Scenario:
        """The last step planned exactly these transitions (``Machine: From -> To``), in
        order; ``ordered=False``: in any order (attempts run together finish in any)."""
        patterns = [transition_pattern(e) for e in expected]
        found = self.transitions()
        if not all_match(patterns, found, transition_matches, ordered):
            self._fail("transitions", expected, [transition_text(f) for f in found])
        return self

    def expect_nothing(self) -> Scenario:
        """The last step recorded nothing but its input events and timers that fired to no
        effect: no transition, task, outcome, timer, signal nor end (recorded events given to
        ``given`` are that step's)."""
        self.expect_transitions()  # the likeliest change first, shown as transitions
        changes = [
            type(e).__name__
            for e in self.step_events()
            if not (self.definition.is_input(e) or isinstance(e, TimerFiredBase))
        ]
        if changes:
            self._fail("nothing recorded but the events given and timers fired", [], changes)
        return self

    def expect_tasks(
        self, *expected: str | tuple[str, Mapping[str, Any]], ordered: bool = True
    ) -> Scenario:
        """The last step planned exactly these tasks, in order: a name, or ``(name, input)``
        whose given fields must equal the planned input's (other fields are not compared);
        ``ordered=False``: in any order."""
        found = [(t.task, t.task_input or {}) for t in self.transitions() if t.task]
        wanted = [(e, None) if isinstance(e, str) else e for e in expected]
        if not all_match(wanted, found, _named_holds, ordered):
            shown = [n if g is None else f"{n} {dict(g)}" for n, g in wanted]
            self._fail("tasks", shown, [f"{n} {i}" for n, i in found])
        return self

    def expect_timers(
        self, *expected: tuple[str, timedelta | datetime], ordered: bool = True
    ) -> Scenario:
        """The last step scheduled exactly these timers, in order: ``(transition, due)``,
        ``due`` a time or how long after it was scheduled."""
        history = [s for s in self.history if s.version > self._mark]
        found = [
            (s.event.transition, s.event.due_at, s.created_at)
            for s in history
            if isinstance(s.event, TimerScheduledBase)
        ]
        if not all_match(expected, found, _same_timer, ordered):
            self._fail(
                "timers",
                [f"{n} at {_when(d)}" for n, d in expected],
                [f"{n} at {d.isoformat()} (in {duration_text(d - at)})" for n, d, at in found],
            )
        return self

    def expect_signals(
        self, *expected: str | tuple[str, Mapping[str, Any]], ordered: bool = True
    ) -> Scenario:
        """The last step raised exactly these signals, in order: a name, or ``(name, payload)``
        (the whole payload)."""
        found = [(s.signal, s.payload) for s in _of_type(self.step_events(), SignalRaisedBase)]
        wanted = [(e, None) if isinstance(e, str) else e for e in expected]
        if not all_match(wanted, found, _same_signal, ordered):
            shown = [n if g is None else f"{n} {dict(g)}" for n, g in wanted]
            self._fail("signals", shown, [f"{n} {p}" for n, p in found])
        return self

    def expect_states(self, **expected: str | Mapping[str, str]) -> Scenario:
        """Machines are in these states now: ``Invoice="Paid"``, or ``Node={"a": "Ready"}``
        for the instances of a multi-instance machine."""
        state = self.state
        found = {
            machine: dict(state.instances_of(machine))
            if isinstance(want, Mapping)
            else _of(state, machine)
            for machine, want in expected.items()
        }
        if found != {m: (dict(w) if isinstance(w, Mapping) else w) for m, w in expected.items()}:
            self._fail(
                "states",
                [f"{m}: {w}" for m, w in expected.items()],
                [f"{m}: {f}" for m, f in found.items()],
            )
        return self

    def expect_data(self, **expected: Any) -> Scenario:
        """The process data's fields named have these values now."""
        data = self.state.data
        found = {name: getattr(data, name, _NO_FIELD) for name in expected}
        if found != expected:
            self._fail(
                "data",
                [f"{n} = {v!r}" for n, v in expected.items()],
                [f"{n} = {v!r}" for n, v in found.items()],
            )
        return self

    def expect_end(self, end: End | str | None, reason: str | None = None) -> Scenario:
        """The process ended so (``completed``, ``failed``, ``cancelled``; None: it runs on),
        with ``reason`` if given."""
        state = self.state
        wanted = None if end is None else _end_named(end)
        if state.end != wanted or (reason is not None and state.end_reason != reason):
            self._fail(
                "the end", [_end_text(wanted, reason)], [_end_text(state.end, state.end_reason)]
            )
        return self

    def _fail(self, what: str, expected: Iterable[str], found: Iterable[str]) -> None:
        raise ExpectationFailed(
            f"expected {what} ({self._step}):\n{listed(expected)}\n"
            f"found:\n{listed(found)}\n{self._stream()}"
        )

    def _stream(self, marked: bool = True) -> str:
        history = self.history if self._key is not None else []
        head = "the stream (> the last step's events):" if marked else "the stream:"
        lines = shortened(stream_lines(history, self.start, self._mark if marked else None))
        return "\n".join([head, *lines])


def _same_signal(
    wanted: tuple[str, Mapping[str, Any] | None], found: tuple[str, Mapping[str, Any]]
) -> bool:
    (name, payload), (found_name, found_payload) = wanted, found
    return name == found_name and (payload is None or dict(payload) == found_payload)


def _same_timer(
    wanted: tuple[str, timedelta | datetime], found: tuple[str, datetime, datetime]
) -> bool:
    """``wanted``'s due is the time itself, or how long after it was scheduled (``at``)."""
    (name, due), (found_name, due_at, at) = wanted, found
    return name == found_name and due == (due_at if isinstance(due, datetime) else due_at - at)


def _of_type(events: Iterable[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def all_match(
    wanted: Sequence[_W], found: Sequence[_F], matches: Callable[[_W, _F], bool], ordered: bool
) -> bool:
    """Whether each of ``wanted`` matches one of ``found``, all of them used: in order,
    or (``ordered=False``) in some order."""
    if len(wanted) != len(found):
        return False
    if ordered:
        return all(matches(w, f) for w, f in zip(wanted, found, strict=True))
    if not wanted:
        return True
    first, rest = wanted[0], wanted[1:]
    return any(
        matches(first, f) and all_match(rest, [*found[:i], *found[i + 1 :]], matches, False)
        for i, f in enumerate(found)
    )


def _named_holds(
    wanted: tuple[str, Mapping[str, Any] | None], found: tuple[str, Mapping[str, Any]]
) -> bool:
    """A task or signal named so, whose fields given (if any) have these values."""
    (name, given), (found_name, fields) = wanted, found
    if name != found_name or given is None:
        return name == found_name
    return all(key in fields and fields[key] == value for key, value in given.items())


def _of(state: ProcessState, machine: str) -> str:
    try:
        return state.of(machine)
    except Exception as error:
        return f"({error})"


def _when(due: timedelta | datetime) -> str:
    return due.isoformat() if isinstance(due, datetime) else f"(in {duration_text(due)})"


def _end_named(end: End | str) -> End:
    try:
        return End(end)
    except ValueError:
        ends = ", ".join(e.value for e in End)
        raise ScenarioError(f"{end!r} is not an end of a process: one of {ends}, or None") from None


def _end_text(end: End | None, reason: str | None) -> str:
    if end is None:
        return "running (no end)"
    return str(end) if reason is None else f"{end}: {reason!r}"


def _in_flight_if_hung() -> AbstractContextManager[None]:
    """An attempt ``time_out()`` scripted stays in flight until its lease is over, as a
    hung handler's does: its ``AttemptHung`` ends the call that ran it, not the step."""
    return suppress(AttemptHung)
