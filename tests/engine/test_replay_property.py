"""Property: what ``decide`` builds is what a replay of the stored stream rebuilds.

Random sequences drive ``decide`` the way the runtime does: input events
(including events that may not start the process, and cancellation), task
outcomes for tasks in flight, finished or never planned, at any attempt,
valid and invalid results, duplicates of anything recorded, timers fired
early, late or never scheduled, time jumps up to the end of the calendar,
and runs of failures deep enough to reach the backoff cap.

After every step, the state ``decide`` built internally (the handled event
and its decisions folded in) must equal a from-scratch fold of the recorded
stream, read back through JSON into the classes of a separately compiled and
imported module, by a fresh definition instance. ``decide`` must never raise
and must be deterministic; events the runtime would not record (no process
yet and not a start event; after the end, unless the outcome of an attempt
that ran) must get no decisions. Failures may be permanent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from event_sourcery import Event
from hypothesis import given, settings
from hypothesis import strategies as st

from pmc.runtime import ProcessDefinition, ProcessState
from pmc.runtime.engine import decide_and_fold
from tests.codegen.support import compile_and_import
from tests.engine.processes import APPROVAL, DEEP, JOBS, PICKING, TICKETS
from tests.engine.scenario import Scenario

PROCESSES = {
    "jobs": JOBS,
    "approval": APPROVAL,
    "deep": DEEP,
    "tickets": TICKETS,
    "picking": PICKING,
}
_modules: dict[tuple[str, int], ModuleType] = {}

# Late enough that a retry delay or a timer runs past year 9999.
FAR_FUTURE = datetime(9999, 12, 1, tzinfo=UTC)


def module(name: str, copy: int = 0) -> ModuleType:
    """The generated module of a process; ``copy`` 1 is a second, separate import."""
    if (name, copy) not in _modules:
        _modules[(name, copy)] = compile_and_import(PROCESSES[name])
    return _modules[(name, copy)]


def input_event(m: ModuleType, name: str, choice: int) -> Event:
    event: Event
    match name:
        case "jobs":
            event = m.Submitted(job_id="r1", parts=[p for p in range(3) if choice >> p & 1])
        case "approval":
            event = [m.Requested, m.Approved, m.Withdrawn][choice % 3](doc_id="r1")
        case "deep":
            event = m.Go(id="r1")
        case "picking":
            item = "ABC"[choice % 3]
            event = [
                m.ItemAdded(order_id="r1", item=item),
                m.PickingStarted(order_id="r1", item=item),
                m.OrderCancelled(order_id="r1"),  # a broadcast
            ][choice // 3 % 3]
        case _:
            ids = [i for i in "ABC" if choice >> "ABC".index(i) & 1]
            closed = m.Closed(board="r1", id="ABC"[choice % 3])
            event = m.Opened(board="r1", ids=ids) if choice & 8 else closed
    return event


actions = st.lists(
    st.one_of(
        st.tuples(st.just("input"), st.integers(0, 15)),
        st.tuples(
            st.sampled_from(["complete", "fail", "permanent", "timeout", "start"]),
            st.integers(0, 20),
            st.integers(1, 6),
            st.booleans(),
        ),
        st.tuples(st.just("unknown"), st.sampled_from(["complete", "fail", "timeout", "start"])),
        st.tuples(st.just("fail_current"), st.integers(0, 20), st.integers(1, 80)),
        st.tuples(st.just("fire"), st.integers(0, 20)),
        st.tuples(st.just("again"), st.integers(0, 60)),
        st.tuples(st.just("wait"), st.integers(0, 100_000)),
        st.tuples(st.just("far_future")),
    ),
    max_size=30,
)


class Run:
    """One stream driven through ``decide`` and recorded the way the runtime records it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.s = Scenario(module(name))
        self.definition: ProcessDefinition = self.s.definition
        # Replays happen in another module's classes, on a definition of its own.
        self.replica = module(name, copy=1)

    def planned_tasks(self) -> list[Any]:
        return [p for p in self.s.of_type("TransitionPlanned") if p.task_id is not None]

    def never_planned(self) -> SimpleNamespace:
        """A task id no decision planned, on a machine and transition the classes accept."""
        machine, transition = next(
            ((key[0], spec.name) for key, spec in self.definition.transitions.items() if spec.task),
            (self.definition.machines[0].name, "none"),
        )
        return SimpleNamespace(
            machine=machine, machine_id="X", task_id=uuid.UUID(int=404), transition=transition
        )

    def events_for(self, action: tuple[Any, ...]) -> list[Event | FailCurrent]:
        s, m = self.s, self.s.m
        match action:
            case ("input", choice):
                return [input_event(m, self.name, choice)]
            case ("unknown", kind):
                return [outcome(s, kind, self.never_planned(), 1, True)]
            case ("fail_current", index, count):
                tasks = self.planned_tasks()
                if not tasks:
                    return []
                planned = tasks[index % len(tasks)]
                return [FailCurrent(planned)] * count
            case (kind, index, attempt, valid) if kind in OUTCOME_KINDS:
                tasks = self.planned_tasks()
                if not tasks:
                    return []
                return [outcome(s, kind, tasks[index % len(tasks)], attempt, valid)]
            case ("fire", index):
                timers = s.of_type("TimerScheduled")
                timer_id = timers[index % len(timers)].timer_id if timers else uuid.UUID(int=index)
                return [m.TimerFired(timer_id=timer_id)]
            case ("again", index):
                return [s.stream[index % len(s.stream)].model_copy()] if s.stream else []
            case ("wait", seconds):
                if s.now < FAR_FUTURE:
                    s.advance(seconds=seconds)
            case ("far_future",):
                s.now = max(s.now, FAR_FUTURE)
        return []

    def step(self, event: Event | FailCurrent) -> None:
        s = self.s
        if isinstance(event, FailCurrent):
            task = s.state.tasks.get(event.planned.task_id)
            if task is None:
                return
            event = s.failed(event.planned, attempt=task.attempt)
        before = s.state
        meta = s.meta()

        decisions, built = decide_and_fold(self.definition, before, event, meta)

        assert self.definition.decide(before, event, meta) == decisions  # deterministic
        if repeats_an_outcome(self.definition, s.stream, event):
            return  # the runtime records one outcome per attempt
        if not recorded_by_the_runtime(self.definition, s.stream, before, event):
            assert decisions == []
            return
        s.stream += [event, *decisions]
        s.state = built
        replayed = self.replica.DEFINITION.__class__().fold([self.stored(e) for e in s.stream])
        assert replayed == built
        assert replayed.version == len(s.stream)

    def stored(self, event: Event) -> Event:
        """The event as another process reads it back from a store: JSON, its own classes."""
        cls = getattr(self.replica, type(event).__name__)
        stored: Event = cls.model_validate_json(event.model_dump_json())
        return stored


@dataclass(frozen=True)
class FailCurrent:
    """Not an event: fail the current attempt of ``planned``'s task, whatever it is then."""

    planned: Any


def outcome(s: Scenario, kind: str, planned: Any, attempt: int, valid: bool) -> Event:
    match kind:
        case "complete":
            result = {"sent_to": "ann"} if valid else {"unexpected": [1, 2]}
            event: Event = s.completed(planned, result, attempt)
        case "fail":
            event = s.failed(planned, attempt)
        case "permanent":
            event = s.failed(planned, attempt).model_copy(update={"permanent": True})
        case "timeout":
            event = s.timed_out(planned, attempt)
        case _:
            event = s.started(planned, attempt)
    return event


OUTCOME_KINDS = {"complete", "fail", "permanent", "timeout", "start"}


def _is_outcome(definition: ProcessDefinition, event: Event) -> bool:
    lc = definition.lifecycle
    return isinstance(event, (lc.task_completed, lc.task_failed))


def repeats_an_outcome(definition: ProcessDefinition, stream: list[Event], event: Event) -> bool:
    """An outcome of an attempt that has one in the stream: the runtime deduplicates it."""
    if not _is_outcome(definition, event):
        return False
    attempt = (getattr(event, "task_id", None), getattr(event, "attempt", None))
    return any(
        _is_outcome(definition, e)
        and (getattr(e, "task_id", None), getattr(e, "attempt", None)) == attempt
        for e in stream
    )


def recorded_by_the_runtime(
    definition: ProcessDefinition, stream: list[Event], state: ProcessState, event: Event
) -> bool:
    """What ``ProcessManager`` appends: see its admission rules."""
    if not state.started:
        return definition.is_input(event) and definition.can_start(event)
    if not state.ended:
        return True
    # After the end, only the outcome of an attempt that ran (a late outcome).
    if not _is_outcome(definition, event):
        return False
    started = definition.lifecycle.task_started
    attempt = (getattr(event, "task_id", None), getattr(event, "attempt", None))
    return any(isinstance(e, started) and (e.task_id, e.attempt) == attempt for e in stream)


# The event each run usually starts with, so most runs get past the start.
STARTS: dict[str, tuple[Any, ...]] = {
    "jobs": ("input", 3),
    "approval": ("input", 0),
    "deep": ("input", 0),
    "tickets": ("input", 8 | 3),
    "picking": ("input", 0),  # item A added
}


@pytest.mark.parametrize("name", sorted(PROCESSES))
@settings(max_examples=80, deadline=None)
@given(started=st.sampled_from([True, True, True, False]), steps=actions)
def test_decide_builds_the_state_a_replay_of_the_stored_stream_rebuilds(
    name: str, started: bool, steps: list[tuple[Any, ...]]
) -> None:
    run = Run(name)
    for action in [STARTS[name], *steps] if started else steps:
        for event in run.events_for(action):
            run.step(event)


def test_runs_of_failures_reach_the_backoff_cap() -> None:
    # The property's deepest action, spelled out: 80 failures in a row of a
    # `retry 200 backoff 1h` task, starting in the far future.
    run = Run("deep")
    run.s.now = FAR_FUTURE - timedelta(days=1)
    run.step(run.s.m.Go(id="r1"))
    (planned,) = run.planned_tasks()

    for event in [FailCurrent(planned)] * 80:
        run.step(event)

    retries = run.s.of_type("TaskRetryScheduled")
    assert len(retries) == 80
    assert retries[-1].not_before == datetime.max.replace(tzinfo=UTC)
