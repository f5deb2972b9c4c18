"""Property: any sequence of events, replayed from the stored stream, gives the same state.

Sequences mix input events, task outcomes for tasks in flight, finished or
never planned, any attempt number, duplicates and timers fired early or late.
``decide`` must never raise, must be deterministic, and folding the stream
after a JSON round trip (as a store returns it) must equal the state built
incrementally.
"""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest
from event_sourcery import Event
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.codegen.support import compile_and_import
from tests.engine.processes import APPROVAL, JOBS
from tests.engine.scenario import Scenario

PROCESSES = {"jobs": JOBS, "approval": APPROVAL}
_modules: dict[str, ModuleType] = {}


def module(name: str) -> ModuleType:
    if name not in _modules:
        _modules[name] = compile_and_import(PROCESSES[name])
    return _modules[name]


def input_event(m: ModuleType, name: str, choice: int) -> Event:
    event: Event
    if name == "jobs":
        event = m.Submitted(job_id="r1", parts=[p for p in range(3) if choice >> p & 1])
    else:
        event = [m.Requested, m.Approved, m.Withdrawn][choice % 3](doc_id="r1")
    return event


actions = st.lists(
    st.one_of(
        st.tuples(st.just("input"), st.integers(0, 7)),
        st.tuples(
            st.sampled_from(["complete", "fail", "timeout", "start"]),
            st.integers(0, 20),
            st.integers(1, 6),
            st.booleans(),
        ),
        st.tuples(st.just("fire"), st.integers(0, 20)),
        st.tuples(st.just("again"), st.integers(0, 60)),
        st.tuples(st.just("wait"), st.integers(0, 100_000)),
    ),
    max_size=40,
)


def outcome(s: Scenario, kind: str, planned: Any, attempt: int, valid: bool) -> Event:
    match kind:
        case "complete":
            result = {"sent_to": "ann"} if valid else {"unexpected": [1, 2]}
            event: Event = s.completed(planned, result, attempt)
        case "fail":
            event = s.failed(planned, attempt)
        case "timeout":
            event = s.timed_out(planned, attempt)
        case _:
            event = s.started(planned, attempt)
    return event


def next_event(s: Scenario, name: str, action: tuple[Any, ...]) -> Event | None:
    m = s.m
    match action:
        case ("input", choice):
            return input_event(m, name, choice)
        case (kind, index, attempt, valid) if kind != "again":
            tasks = [p for p in s.of_type("TransitionPlanned") if p.task_id is not None]
            if not tasks:
                return None
            return outcome(s, kind, tasks[index % len(tasks)], attempt, valid)
        case ("fire", index):
            timers = s.of_type("TimerScheduled")
            timer_id = timers[index % len(timers)].timer_id if timers else uuid.UUID(int=index)
            fired: Event = m.TimerFired(timer_id=timer_id)
            return fired
        case ("again", index):
            return s.stream[index % len(s.stream)].model_copy() if s.stream else None
        case ("wait", seconds):
            s.advance(seconds=seconds)
    return None


def stored(event: Event) -> Event:
    """The event as a store hands it back: through JSON."""
    return type(event).model_validate_json(event.model_dump_json())


@pytest.mark.parametrize("name", sorted(PROCESSES))
@settings(max_examples=150, deadline=None)
@given(steps=actions)
def test_replaying_the_stream_rebuilds_the_incremental_state(
    name: str, steps: list[tuple[Any, ...]]
) -> None:
    s = Scenario(module(name))
    for step in steps:
        event = next_event(s, name, step)
        if event is None:
            continue
        meta = s.meta()
        again = s.definition.decide(s.state, event, meta)
        decisions = s.handle(event, meta)
        assert again == decisions

    replayed = s.definition.fold([stored(e) for e in s.stream])

    assert replayed == s.state
    assert replayed.version == len(s.stream)
