"""An input event on a plain step is decided as the generic path decides it.

``decide_and_fold`` decides an input event to one existing instance whose
step is plain (one transition, without guard, ``set``, ``emit`` or
``keep``, whose target has ``after`` timers only: ``engine._Step.plain``)
in one go, folded into one copy of the state. Random walks over every
example and the processes of the replay property (input events of every
kind with varied values, task outcomes, lease reports and fired timers, the
clock moving) drive both paths from the same states: the events must be the
same (class, values and their types, field order, fields set, JSON) and so
must the state (the order of its maps too), or both must raise the same
error.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, get_args, get_origin

import pytest
from event_sourcery import Event
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pmc.runtime import ProcessState
from pmc.runtime.contract import EventMeta
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.engine import _decide_and_fold, _plain_input, _plans, decide_and_fold
from tests.codegen.support import compile_and_import
from tests.engine.processes import APPROVAL, DEEP, JOBS, PICKING, TICKETS
from tests.engine.test_trusted_events import assert_same

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.pm"))
SOURCES = {
    **{path.stem: path.read_text(encoding="utf-8") for path in EXAMPLES},
    "jobs": JOBS,
    "approval": APPROVAL,
    "deep": DEEP,
    "tickets": TICKETS,
    "picking": PICKING,
}
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
# The process key of every walk, in each type a key may be declared.
KEYS: dict[Any, Any] = {str: "r1", int: 7, uuid.UUID: uuid.UUID(int=7)}
_modules: dict[str, ModuleType] = {}


def module(name: str) -> ModuleType:
    if name not in _modules:
        text = SOURCES[name].replace("process ", "process Plain", 1)
        _modules[name] = compile_and_import(text)
    return _modules[name]


# A few values per type, so that walks meet the same ids and amounts again.
def _values(annotation: Any) -> list[Any]:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        inner = _values(args[0])
        return [[], inner[:1], inner[:2]]
    if origin is dict:
        keys, values = _values(args[0]), _values(args[1])
        return [{}, dict(zip(keys[:1], values[:1], strict=True))]
    if args and type(None) in args:  # optional
        return [None, *_values(next(a for a in args if a is not type(None)))]
    simple: dict[Any, list[Any]] = {
        str: ["a", "b", "c"],
        int: [0, 1, 3],
        bool: [False, True],
        float: [0.0, 1.5],
        Decimal: [Decimal("0"), Decimal("12.50")],
        datetime: [T0, T0 + timedelta(days=3)],
        date: [date(2026, 1, 1), date(2026, 2, 1)],
        uuid.UUID: [uuid.UUID(int=1), uuid.UUID(int=2)],
    }
    return simple.get(annotation, [])


def input_event(defn: ProcessDefinition, cls: type[Event], choice: int) -> Event | None:
    """An event of ``cls`` for the walk's key (``KEYS``), its fields picked by ``choice``; None
    if a field has a type the walk does not know."""
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name == defn.key_field:
            values[name] = KEYS[field.annotation]
            continue
        if name in Event.model_fields:
            continue
        options = _values(field.annotation)
        if not options:
            if field.is_required():
                return None
            continue
        values[name] = options[choice % len(options)]
        choice //= len(options)
    try:
        return cls(**values)
    except ValidationError:
        return None


def events_of(run: Walk, action: tuple[int, int]) -> list[Event]:
    """What an action of the walk hands to ``decide``: an input event (0-5; 10
    one that cancels, which ends the walk's process), or a report of the
    runtime on a task (6-8) or a timer (9) of the stream."""
    kind, choice = action
    defn, m, stream = run.defn, run.m, run.stream
    lc = defn.lifecycle
    planned = [e for e in stream if isinstance(e, lc.transition_planned) and e.task_id]
    timers = [e for e in stream if isinstance(e, lc.timer_scheduled)]
    if kind < 6 or kind == 10 or (kind != 9 and not planned) or (kind == 9 and not timers):
        cancelling = kind == 10 and bool(defn.cancel_on)
        classes = sorted(
            (cls for cls in defn.events if issubclass(cls, defn.cancel_on) == cancelling),
            key=lambda cls: cls.__name__,
        )
        event = input_event(defn, classes[choice % len(classes)], choice // len(classes))
        return [] if event is None else [event]
    if kind == 9:
        return [lc.timer_fired(timer_id=timers[choice % len(timers)].timer_id)]
    task = planned[choice % len(planned)]
    attempt = 1 + choice // len(planned) % 3
    common = {"task_id": task.task_id, "attempt": attempt}
    where = {"machine": task.machine, "machine_id": task.machine_id, "transition": task.transition}
    if kind == 6:
        return [lc.task_completed(**common, **where, result=None if choice & 1 else {})]
    if kind == 7:
        return [lc.task_failed(**common, **where, reason="boom", permanent=bool(choice & 1))]
    return [m.TaskStarted(**common, worker="w1", lease_until=run.now + timedelta(seconds=30))]


class Walk:
    """One stream of one process, every event decided on both paths."""

    def __init__(self, name: str) -> None:
        self.m = module(name)
        self.defn: ProcessDefinition = self.m.DEFINITION
        self.state: ProcessState = self.defn.initial_state()
        self.stream: list[Event] = []
        self.now = T0
        self.plain = 0  # events the plain path decided
        # The stream's name: the walk's key, as the key field is declared.
        self.key = next(
            str(KEYS[cls.model_fields[self.defn.key_field].annotation])
            for cls in self.defn.events
            if self.defn.key_field in cls.model_fields
        )

    def step(self, event: Event, number: int) -> None:
        """Decide ``event`` on both paths, compare, and record it; a process that
        ended makes way for a new one (a new stream), which meets more steps."""
        if self.state.ended:
            self.state, self.stream = self.defn.initial_state(), []
        meta = self.meta(number)
        fast = _outcome(lambda: decide_and_fold(self.defn, self.state, event, meta))
        generic = _outcome(
            lambda: _decide_and_fold(self.defn, self.state, event, meta, plain=False)
        )
        if isinstance(generic, Exception):
            assert type(fast) is type(generic)
            assert str(fast) == str(generic)
            return
        assert not isinstance(fast, Exception), fast
        (events, state), (expected, expected_state) = fast, generic
        assert len(events) == len(expected)
        for built, wanted in zip(events, expected, strict=True):
            assert_same(built, wanted)
        assert state == expected_state
        assert shape(state) == shape(expected_state)
        self.plain += self._decided_plainly(event, meta)
        self.stream += [event, *events]
        self.state = state

    def meta(self, number: int) -> EventMeta:
        """The metadata of the walk's ``number``-th event, now."""
        return EventMeta(uuid.uuid5(uuid.NAMESPACE_OID, f"event-{number}"), self.now, self.key)

    def _decided_plainly(self, event: Event, meta: EventMeta) -> bool:
        if not (self.defn.is_input(event) and self.state.started and not self.state.ended):
            return False
        if isinstance(event, self.defn.cancel_on):
            return False
        routes = self.defn.route(event)
        return _plain_input(_plans(self.defn), self.state, event, meta, routes) is not None


def _outcome(decide: Any) -> Any:
    try:
        return decide()
    except Exception as error:
        return error


def shape(state: ProcessState) -> list[Any]:
    """The order of every map of ``state``, which equality does not look at."""
    return [
        [(machine, list(ids.items())) for machine, ids in state.instances.items()],
        list(state.tasks.items()),
        list(state.timers.items()),
        [(machine, list(ids)) for machine, ids in state.instance_data.items()],
    ]


actions = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 10), st.integers(0, 10_000)),  # see ``events_of``
        st.tuples(st.just(-1), st.integers(0, 200_000)),  # the clock moves, in seconds
    ),
    max_size=40,
)


@pytest.mark.parametrize("name", sorted(SOURCES))
@settings(max_examples=60, deadline=None)
@given(steps=actions)
def test_the_plain_path_decides_what_the_generic_path_decides(
    name: str, steps: list[tuple[int, int]]
) -> None:
    walk = Walk(name)
    for number, (kind, choice) in enumerate(steps):
        if kind == -1:
            walk.now += timedelta(seconds=choice)
            continue
        for event in events_of(walk, (kind, choice)):
            walk.step(event, number)


def test_walks_meet_plain_steps() -> None:
    """The property above compares something: walks of every process that
    has plain steps on input events meet them (the same walk for each:
    input events, outcomes, reports and timers in turn, nothing cancelled)."""
    met = {}
    for name in sorted(SOURCES):
        walk = Walk(name)
        for number in range(300):
            for event in events_of(walk, (number % 10, number * 7919 % 10_000)):
                walk.step(event, number)
        met[name] = walk.plain
    assert all(met[name] > 0 for name in ("approval", "document_approval", "tickets")), met
    assert sum(met.values()) > 50, met
