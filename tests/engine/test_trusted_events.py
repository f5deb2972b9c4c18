"""The lifecycle events ``decide`` builds without validating are the validated ones.

The engine copies each event it records from a validated template
(``EventBuilder``) instead of validating it again. For every kind of event
it builds, over every example's tables, the copy must be what validating
the same values gives: equal, of the same class, with the same values of
the same types in the same order, the same fields set, and the same dump
and JSON, so that nothing downstream (the store, a replay, a subscriber)
can tell them apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from event_sourcery import Event

from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.engine import event_builder
from pmc.runtime.lifecycle import LifecycleEvent
from tests.runtime.support import compiled, definition

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.pm"))
WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
CAUSE = uuid.UUID("00000000-0000-4000-8000-000000000001")
TASK = uuid.UUID("00000000-0000-4000-8000-000000000002")

# (event class, the fields from the tables, the fields of one decision)
Case = tuple[type[LifecycleEvent], dict[str, Any], dict[str, Any]]


def example(path: Path) -> ProcessDefinition:
    """The example's definition, its process renamed (one event class per name)."""
    text = path.read_text(encoding="utf-8")
    return definition(compiled(text.replace("process ", "process Trusted", 1)))


def transitions_planned(defn: ProcessDefinition) -> Iterator[Case]:
    for (machine, state, _), spec in defn.rows():
        single = not defn.machine(machine).multi_instance
        # The fold keeps states as text; the tables as the machine's enum.
        for source in (str(state), state):
            task = defn.tasks[spec.task] if spec.task is not None else None
            yield (
                defn.lifecycle.transition_planned,
                {
                    "machine": machine,
                    "transition": spec.name,
                    "from_state": source,
                    "to_state": spec.target,
                    "task": spec.task,
                    "task_mode": task.mode if task is not None else None,
                },
                {
                    "machine_id": machine if single else "m-7",
                    "task_id": TASK if task is not None else None,
                    "task_input": {"amount": "12.50", "n": 3} if task is not None else None,
                    "caused_by": CAUSE,
                    "data_set": {"paid": "1.5", "when": "2026-03-01T12:30:00Z"},
                    "instance_set": {"tries": 2} if not single else None,
                    "kept_tasks": [TASK] if spec.keep else None,
                },
            )


def timers_scheduled(defn: ProcessDefinition) -> Iterator[Case]:
    for machine in defn.machines:
        for state in machine.states:
            for timer in defn.timers_in(machine.name, str(state)):
                yield (
                    defn.lifecycle.timer_scheduled,
                    {"machine": machine.name, "transition": timer.transition},
                    {"machine_id": "m-7", "timer_id": TASK, "due_at": WHEN},
                )


def signals_raised(defn: ProcessDefinition) -> Iterator[Case]:
    raised = defn.lifecycle.signal_raised
    if raised is None:
        return
    emitting = {(machine, spec.name) for (machine, _, _), spec in defn.rows() if spec.emit}
    for machine, transition in sorted(emitting):
        for name in defn.signals:
            yield (
                raised,
                {"signal": name, "machine": machine, "transition": transition},
                {"payload": {"region": "eu", "n": 1}, "machine_id": "m-7"},
            )


def the_rest(defn: ProcessDefinition) -> Iterator[Case]:
    lc = defn.lifecycle
    retry = {"task_id": TASK, "attempt": 2, "not_before": WHEN}
    yield lc.task_retry_scheduled, {}, retry
    yield lc.process_completed, {}, {}
    yield lc.process_failed, {}, {"reason": "Invoice is in Lapsed"}
    yield lc.process_cancelled, {}, {"reason": "cancelled by Withdrawn"}


def cases() -> Iterator[Any]:
    for path in EXAMPLES:
        defn = example(path)
        for kind in (transitions_planned, timers_scheduled, signals_raised, the_rest):
            for cls, static, dynamic in kind(defn):
                yield pytest.param(defn, cls, static, dynamic, id=f"{path.stem}-{cls.__name__}")


def assert_same(built: Event, validated: Event) -> None:
    assert type(built) is type(validated)
    assert built == validated
    assert list(built.__dict__) == list(validated.__dict__)
    assert {k: type(v) for k, v in built.__dict__.items()} == {
        k: type(v) for k, v in validated.__dict__.items()
    }
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump_json() == validated.model_dump_json()
    assert repr(built) == repr(validated)


@pytest.mark.parametrize(("defn", "cls", "static", "dynamic"), list(cases()))
def test_a_built_event_is_the_validated_one(
    defn: ProcessDefinition,
    cls: type[LifecycleEvent],
    static: Mapping[str, Any],
    dynamic: Mapping[str, Any],
) -> None:
    build = event_builder(defn)
    first = build.event(cls, static, dynamic)  # validates the template
    again = build.event(cls, static, dynamic)  # a copy of it
    validated = cls(**static, **dynamic)
    assert_same(first, validated)
    assert_same(again, validated)
    # Copies share nothing mutable with the template or each other.
    assert first.model_fields_set is not again.model_fields_set


def test_every_kind_the_engine_builds_is_covered() -> None:
    built = {cls.__mro__[1].__name__ for _, cls, _, _ in (case.values for case in cases())}
    assert built == {
        "TransitionPlannedBase",
        "TimerScheduledBase",
        "SignalRaisedBase",
        "TaskRetryScheduledBase",
        "ProcessCompletedBase",
        "ProcessFailedBase",
        "ProcessCancelledBase",
    }


def test_a_value_of_another_type_is_validated_as_before() -> None:
    """A caller's event id given as text, a route's id that is no str: validated
    (converted, or refused) exactly as building the event directly does."""
    defn = example(EXAMPLES[0])
    (cls, static, dynamic), *_ = transitions_planned(defn)
    build = event_builder(defn)
    as_text = build.event(cls, static, {**dynamic, "caused_by": str(CAUSE)})
    assert_same(as_text, cls(**static, **dynamic))
    with pytest.raises(ValueError, match="machine_id"):
        build.event(cls, static, {**dynamic, "machine_id": 7})
