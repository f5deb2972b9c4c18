"""Properties of the second edition's engine (issue 10), and signal order pinned by examples.

- Replay: random event sequences drive ``decide`` on generated programs with
  data, guards, ``set``, signals, ``keep``, ``at`` deadlines and data
  conditions; after every step the state ``decide`` built equals a
  from-scratch fold of the recorded stream read back through JSON into
  another import's classes, data records included; and every transition
  planned is the one the program says (first guard that holds), with the
  values its ``set`` gives and the signals its ``emit`` gives, in order.
- Guard order: on a state with several guarded transitions on one trigger,
  the transition taken is the first in source order whose guard holds, as
  the test computes from the program and the values, without pmc.
- Signals: handled after the decisions of the event that raised them, first
  raised first handled, each recorded before the decisions it causes, whose
  ``caused_by`` is its stored id.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from types import ModuleType
from typing import Any

import hypothesis
from event_sourcery import Event
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from pmc.runtime import NoData, ProcessState
from pmc.runtime.contract import decision_id
from pmc.runtime.engine import decide_and_fold
from tests.codegen.support import compile_and_import
from tests.engine.scenario import Scenario
from tests.engine.test_replay_property import recorded_by_the_runtime, repeats_an_outcome
from tests.properties.second_edition import (
    BOOL,
    DECIMAL,
    EVENTS,
    INT,
    LIST,
    MACHINE_DATA,
    OPT_DATETIME,
    OPT_INT,
    PROCESS_DATA,
    STR,
    Field,
    Machine,
    Program,
    Ref,
    Transition,
    Trigger,
    evaluate,
    event_values,
    expressions,
    programs,
    text,
    transition_refs,
)

_names = (f"Gen{n}" for n in itertools.count())


def imported(program: Program) -> tuple[ModuleType, ModuleType]:
    """Two separate imports of the program's module, under a process name of its own
    (event-sourcery keeps one class per event name)."""
    code_of = replace(program, name=next(_names))
    return compile_and_import(code_of.text), compile_and_import(code_of.text)


def records(state: ProcessState) -> dict[str, Any]:
    """The data records of ``state`` as JSON: classes of two imports never compare equal."""
    return {
        "data": state.data.model_dump(mode="json"),
        "instances": {
            machine: {i: record.model_dump(mode="json") for i, record in by_id.items()}
            for machine, by_id in state.instance_data.items()
        },
    }


def comparable(state: ProcessState) -> tuple[ProcessState, dict[str, Any]]:
    return replace(state, data=None, instance_data=None), records(state)


# ---- replay -----------------------------------------------------------------------------

_input = st.tuples(st.just("input"), st.sampled_from(EVENTS), event_values())
_outcome = st.tuples(st.sampled_from(["complete", "fail"]), st.integers(0, 20), st.integers(-3, 9))
_fire = st.tuples(st.just("fire"), st.integers(0, 20))
# Weighted by repetition: mostly events, outcomes and timers; a cancel ends a
# run, so it is rare.
actions = st.lists(
    st.one_of(
        _input,
        _input,
        _input,
        _outcome,
        _outcome,
        _fire,
        _fire,
        st.tuples(st.just("wait"), st.integers(0, 40_000)),
        st.tuples(st.just("stop"), st.integers(0, 9)),  # cancels on 0 only
    ),
    min_size=10,
    max_size=30,
)


class Run:
    """One stream of a generated program driven through ``decide``, recorded as the runtime does."""

    def __init__(self, program: Program) -> None:
        self.program = program
        module, self.replica = imported(program)
        self.s = Scenario(module)

    def events_for(self, action: tuple[Any, ...]) -> list[Event]:
        s, m = self.s, self.s.m
        match action:
            case ("input", name, values):
                return [getattr(m, name).model_validate(values)]
            case ("stop", chance):
                return [m.Stop(id=s.key)] if hasattr(m, "Stop") and chance == 0 else []
            case (("complete" | "fail") as kind, index, r):
                planned = [p for p in s.of_type("TransitionPlanned") if p.task_id is not None]
                if not planned:
                    return []
                chosen = planned[index % len(planned)]
                task = s.state.tasks.get(chosen.task_id)
                attempt = task.attempt if task is not None else 1
                if kind == "fail":
                    return [s.failed(chosen, attempt, reason=f"reason {r}")]
                result = {"r": r} if chosen.task == "Job" else None
                return [s.completed(chosen, result, attempt)]
            case ("fire", index):
                timers = s.of_type("TimerScheduled")
                return (
                    [m.TimerFired(timer_id=timers[index % len(timers)].timer_id)] if timers else []
                )
            case ("wait", seconds):
                s.advance(seconds=seconds)
        return []

    def step(self, event: Event) -> None:
        s = self.s
        definition = s.definition
        before = s.state

        meta = s.meta()
        decisions, built = decide_and_fold(definition, before, event, meta)

        if repeats_an_outcome(definition, s.stream, event):
            return
        if not recorded_by_the_runtime(definition, s.stream, before, event):
            assert decisions == []
            return
        s.stream += [event, *decisions]
        s.state = built
        stored = [
            getattr(self.replica, type(e).__name__).model_validate_json(e.model_dump_json())
            for e in s.stream
        ]
        replayed = self.replica.DEFINITION.__class__().fold(stored)
        assert comparable(replayed) == comparable(built)
        # The process's record is its typed model, not a dict.
        assert type(replayed.data) is (self.replica.DEFINITION.data_model or NoData)
        self.check_against_the_program(event, decisions, meta)

    def check_against_the_program(self, event: Event, decisions: list[Any], meta: Any) -> None:
        """Each transition planned is the first of its state and trigger whose guard
        holds, its ``set`` wrote what its expressions give, and the signals raised
        are what the transitions emitted, in the order they were planned: all
        computed from the program by :func:`evaluate`, on the values the stream
        held just before the transition."""
        s = self.s
        first = len(s.stream) - len(decisions)
        emitted: list[tuple[str, dict[str, Any]]] = []
        for offset, planned in enumerate(decisions):
            if type(planned).__name__ != "TransitionPlanned":
                continue
            before = s.definition.fold(s.stream[: first + offset])
            after = s.definition.fold(s.stream[: first + offset + 1])
            cause = _payload(event, decisions, meta, planned.caused_by)
            machine = self.program.machine(planned.machine)
            values = cause | _scope(before, machine, planned.machine_id, s.key)
            (taken,) = [t for t in machine.transitions if t.name == planned.transition]
            tried = machine.candidates(str(planned.from_state), taken.trigger)
            holding = [t.name for t in tried if t.guard is None or evaluate(t.guard, values)]
            assert holding[:1] == [taken.name], (holding, values)
            written = _scope(after, machine, planned.machine_id, s.key)
            for ref, value in taken.sets:
                assert written[text(ref)] == evaluate(value, values), (text(ref), values)
            emitted += [
                (e.signal, {name: evaluate(v, values) for name, v in e.bindings})
                for e in taken.emits
            ]
        raised = [(d.signal, d.payload) for d in decisions if type(d).__name__ == "SignalRaised"]
        assert raised == emitted


def _payload(event: Event, decisions: list[Any], meta: Any, cause: uuid.UUID) -> dict[str, Any]:
    """What ``event.`` reads for a transition ``cause`` caused: the handled
    event's fields, a result's, a failure's reason, or a signal's payload."""
    if cause != meta.event_id:
        (signal,) = [d for i, d in enumerate(decisions) if decision_id(meta.event_id, i) == cause]
        fields = signal.payload
    elif type(event).__name__ == "TaskCompleted":
        fields = event.result or {}
    elif type(event).__name__ == "TaskFailed":
        fields = {"reason": event.reason}
    elif type(event).__name__ == "TimerFired":
        fields = {}
    else:
        fields = event.model_dump()
    return {f"event.{name}": value for name, value in fields.items()}


def _scope(state: ProcessState, machine: Machine, machine_id: str, key: str) -> dict[str, Any]:
    """The values of ``data.``, ``instance.`` (its machine's defaults for an
    instance not created yet), ``key`` and ``machine_id`` in ``state``."""
    record = state.instance_data.get(machine.name, {}).get(machine_id)
    instance = (
        record.model_dump() if record is not None else {f.name: f.initial for f in machine.data}
    )
    return (
        {f"data.{name}": value for name, value in state.data.model_dump().items()}
        | {f"instance.{name}": value for name, value in instance.items()}
        | {"key": key, "machine_id": machine_id}
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(program=programs(), first=event_values(), steps=actions)
def test_decide_builds_the_state_a_replay_of_the_stream_rebuilds_data_included(
    program: Program, first: dict[str, Any], steps: list[tuple[Any, ...]]
) -> None:
    note(program.text)
    run = Run(program)
    for action in [("input", EVENTS[0], first), *steps]:
        for event in run.events_for(action):
            run.step(event)
    for reached in reached_features(run.s.stream):
        hypothesis.event(reached)


def reached_features(stream: list[Event]) -> set[str]:
    """What a run got to, for ``--hypothesis-show-statistics``: is the property testing much?"""
    reached = set()
    for e in stream:
        match type(e).__name__:
            case "SignalRaised":
                reached.add("signal raised")
            case "TransitionPlanned" if e.data_set or e.instance_set:
                reached.add("data set")
            case "TransitionPlanned" if e.kept_tasks:
                reached.add("task kept")
            case "ProcessFailed" | "ProcessCompleted" | "ProcessCancelled" as end:
                reached.add(end)
            case "TimerFired":
                reached.add("timer fired")
    return reached


# ---- guard order --------------------------------------------------------------------------

# The event field a `load` transition copies into a data field of each type.
_LOADED_FROM = {
    INT: "n",
    DECIMAL: "amount",
    STR: "tag",
    BOOL: "flag",
    OPT_INT: "n",
    LIST: "items",
    OPT_DATETIME: "stamp",
}


@st.composite
def guarded_choices(draw: st.DrawFn) -> Program:
    """One machine: ``load`` copies a `Go` event into the data records, then in
    ``Waiting`` several transitions on ``Poke`` (some from ``*``), guarded but
    perhaps the last.

    With ``multi``, both events select the instance by ``who``.
    """
    multi = draw(st.booleans())
    selector = "who" if multi else None
    data = draw(_some(PROCESS_DATA))
    machine_data = draw(_some(MACHINE_DATA))
    load = Transition(
        "load",
        "Init",
        "Waiting",
        Trigger("event", "Go", selector),
        sets=tuple(
            (Ref(scope, f.name), Ref("event", _LOADED_FROM[f.type]))
            for scope, fields in (("data", data), ("instance", machine_data))
            for f in fields
            if draw(st.booleans())  # or left at its default
        ),
    )
    poke = Trigger("event", "Poke", selector)
    refs = transition_refs(data, machine_data, poke)
    fallback = draw(st.booleans())
    # Guarded, from `Waiting` or from `*`; the unguarded fallback, if any, last.
    choices = [
        Transition(f"c{i}", draw(st.sampled_from(["Waiting", "*"])), "Done", poke, guard)
        for i, guard in enumerate(draw(st.lists(expressions(BOOL, refs), max_size=5)))
    ]
    if fallback or not choices:
        choices.append(Transition("fallback", "Waiting", "Done", poke))
    machine = Machine("M0", multi, ("Init", "Waiting", "Done"), machine_data, (load, *choices))
    return Program("Choice", data, (), (machine,))


def _some(fields: tuple[Field, ...]) -> st.SearchStrategy[tuple[Field, ...]]:
    return st.lists(st.sampled_from(fields), unique=True).map(
        lambda chosen: tuple(f for f in fields if f in chosen)
    )


def _record(
    fields: tuple[Field, ...], load: Transition, scope: str, values: dict[str, Any]
) -> dict[str, Any]:
    """A record after ``load``, from the program: each field its default or what ``set`` wrote."""
    written = {ref.name: evaluate(value, values) for ref, value in load.sets if ref.scope == scope}
    return {f.name: written.get(f.name, f.initial) for f in fields}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=guarded_choices(), go=event_values(), poke=event_values())
def test_the_first_transition_whose_guard_holds_is_taken(
    program: Program, go: dict[str, Any], poke: dict[str, Any]
) -> None:
    note(program.text)
    (machine,) = program.machines
    load = machine.transitions[0]
    choices = machine.candidates(
        "Waiting", Trigger("event", "Poke", "who" if machine.multi else None)
    )
    if machine.multi:
        poke = {**poke, "who": go["who"]}
    machine_id = go["who"] if machine.multi else machine.name
    m, _ = imported(program)
    s = Scenario(m)
    s.given(m.Go.model_validate(go))

    before = {f"event.{k}": v for k, v in go.items()} | {"key": s.key, "machine_id": machine_id}
    data = _record(program.data, load, "data", before)
    instance = _record(machine.data, load, "instance", before)
    values = (
        {f"event.{k}": v for k, v in poke.items()}
        | {f"data.{k}": v for k, v in data.items()}
        | {f"instance.{k}": v for k, v in instance.items()}
        | {"key": s.key, "machine_id": machine_id}
    )
    expected = [c.name for c in choices if c.guard is None or evaluate(c.guard, values)][:1]
    note(f"values: {values}")
    hypothesis.event(f"taken: {'none' if not expected else expected[0][0]}, of {len(choices)}")

    decisions = s.when(m.Poke.model_validate(poke))

    assert s.state.data.model_dump() == data
    assert s.state.instance_data["M0"][machine_id].model_dump() == instance
    taken = [d.transition for d in decisions if type(d).__name__ == "TransitionPlanned"]
    assert taken == expected, [text(c.guard) if c.guard else "-" for c in choices]
    assert s.state.instances["M0"][machine_id] == ("Done" if expected else "Waiting")


# ---- signal order ------------------------------------------------------------------------

RELAY = """
process Relay {
    key id
    event Go { id: str }
    signal First { n: int }
    signal Second { n: int }
    signal Third { n: int }
    data { log: str = "" }
    machine A {
        states Idle, Sent
        initial Idle
        final Sent
        transition go: Idle -> Sent on Go
            set data.log = data.log + "0"
            emit First(n = 1)
            emit Second(n = 2)
    }
    machine B {
        states Idle, Relayed
        initial Idle
        final Relayed
        transition relay: Idle -> Relayed on First
            set data.log = data.log + "1"
            emit Third(n = event.n + 2)
    }
    machine C {
        states Idle, Heard, Done
        initial Idle
        final Done
        transition second: Idle -> Heard on Second
            set data.log = data.log + "2"
        transition third: Heard -> Done on Third
            set data.log = data.log + "3"
    }
}
"""


def _kinds(decisions: list[Any]) -> list[tuple[str, ...]]:
    """Decisions in brief: the signal raised, or the machine and transition planned."""
    brief: list[tuple[str, ...]] = []
    for d in decisions:
        match type(d).__name__:
            case "SignalRaised":
                brief.append(("raised", d.signal))
            case "TransitionPlanned":
                brief.append(("planned", d.machine, d.transition))
            case name:
                brief.append((name,))
    return brief


def test_signals_are_handled_first_raised_first_after_the_event_that_raised_them() -> None:
    # Depth first, `Third` (raised while handling `First`) would reach C
    # before `Second` does, and C would ignore it.
    m = compile_and_import(RELAY)
    s = Scenario(m)

    decisions = s.when(m.Go(id="r1"))

    assert _kinds(decisions) == [
        ("planned", "A", "go"),
        ("raised", "First"),
        ("planned", "B", "relay"),
        ("raised", "Second"),
        ("planned", "C", "second"),
        ("raised", "Third"),
        ("planned", "C", "third"),
        ("ProcessCompleted",),
    ]
    assert s.state.data.log == "0123"


def test_a_signal_records_who_raised_it_and_causes_what_it_triggers() -> None:
    m = compile_and_import(RELAY)
    s = Scenario(m)
    meta = s.meta()

    decisions = s.handle(m.Go(id="r1"), meta)

    def stored_id(decision: Any) -> uuid.UUID:
        return decision_id(meta.event_id, decisions.index(decision))

    go, first, relay, second, heard, third, done, _ = decisions
    assert go.caused_by == meta.event_id
    assert (first.signal, first.payload, first.machine, first.machine_id, first.transition) == (
        "First",
        {"n": 1},
        "A",
        "A",
        "go",
    )
    assert (third.payload, third.machine, third.transition) == ({"n": 3}, "B", "relay")
    assert relay.caused_by == stored_id(first)
    assert heard.caused_by == stored_id(second)
    assert done.caused_by == stored_id(third)


FLEET = """
process Fleet {
    key id
    event Add { id: str  node: str }
    event Down { id: str }
    signal Release { reason: str }
    signal Spare { node: str }
    machine Node {
        data { why: str = "" }
        states New, Up, Released
        initial New
        final Released
        transition add: New -> Up on Add.node
        transition spare: New -> Up on Spare.node
        transition release: Up -> Released on Release
            set instance.why = event.reason
    }
    machine Net {
        states Ok, Degraded, Failed
        initial Ok
        final Failed
        transition down: Ok -> Degraded on Down
            emit Spare(node = "spare")
            emit Release(reason = "network down")
        transition again: Degraded -> Failed on Down
    }
}
"""


def test_a_signal_by_selector_starts_an_instance_and_a_broadcast_reaches_every_instance() -> None:
    m = compile_and_import(FLEET)
    s = Scenario(m)
    s.given(m.Add(id="r1", node="n1"), m.Add(id="r1", node="n2"))

    meta = s.meta()

    decisions = s.handle(m.Down(id="r1"), meta)

    # `Spare` was raised first: its new instance exists when `Release` is broadcast.
    raised = [d for d in decisions if type(d).__name__ == "SignalRaised"]
    assert [r.signal for r in raised] == ["Spare", "Release"]
    release_id = decision_id(meta.event_id, decisions.index(raised[1]))
    released = [d for d in decisions if getattr(d, "transition", None) == "release"]
    assert {d.machine_id for d in released} == {"n1", "n2", "spare"}
    assert {d.caused_by for d in released} == {release_id}
    assert dict(s.state.instances["Node"]) == {
        "n1": "Released",
        "n2": "Released",
        "spare": "Released",
    }
    assert {i: r.why for i, r in s.state.instance_data["Node"].items()} == {
        "n1": "network down",
        "n2": "network down",
        "spare": "network down",
    }


ECHO = """
process Echo {
    key id
    event Go { id: str }
    signal Ping { }
    machine A {
        states Idle, Waiting, Done
        initial Idle
        final Done
        transition go: Idle -> Waiting on Go emit Ping
        transition ping: Waiting -> Done on Ping
    }
}
"""


def test_a_signal_reaches_the_instance_that_raised_it_once_it_has_moved_on() -> None:
    m = compile_and_import(ECHO)
    s = Scenario(m)

    decisions = s.when(m.Go(id="r1"))

    assert _kinds(decisions) == [
        ("planned", "A", "go"),
        ("raised", "Ping"),
        ("planned", "A", "ping"),
        ("ProcessCompleted",),
    ]
