"""The steps ``decide`` looks up are the definition's tables, worked out once.

A decision finds what a trigger does to an instance in a ``_Step`` made on
first use per (machine, state, trigger), instead of reading the tables each
time. For every example, every state (as text, as the fold keeps it, and as
the machine's enum, as the tables and the initial state hold it) and every
trigger the tables know, plus one they do not, the step must say what the
tables say: the row's transitions in source order (the state's own row,
else the machine's ``*`` row), the ``TransitionPlanned`` fields they give,
the timers of each target, and whether any clause reads a scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pmc.runtime.contract import row_specs
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.engine import _plans
from tests.runtime.support import compiled, definition

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.pm"))


def example(path: Path) -> ProcessDefinition:
    """The example's definition, its process renamed (one event class per name)."""
    text = path.read_text(encoding="utf-8")
    return definition(compiled(text.replace("process ", "process Stepped", 1)))


def triggers(defn: ProcessDefinition, machine: str) -> set[str]:
    exact = {trigger for (m, _, trigger) in defn.transitions if m == machine}
    wildcard = {trigger for (m, trigger) in defn.wildcard_transitions if m == machine}
    return exact | wildcard | {"NoSuchEvent"}


def cases() -> Iterator[Any]:
    for path in EXAMPLES:
        defn = example(path)
        for machine in defn.machines:
            for state in machine.states:
                for trigger in sorted(triggers(defn, machine.name)):
                    for source in (str(state), state):
                        yield pytest.param(
                            defn, machine.name, source, trigger, id=f"{path.stem}-{state}-{trigger}"
                        )


@pytest.mark.parametrize(("defn", "machine", "state", "trigger"), list(cases()))
def test_a_step_is_what_the_tables_say(
    defn: ProcessDefinition, machine: str, state: str, trigger: str
) -> None:
    step = _plans(defn).step(machine, state, trigger)
    specs = row_specs(defn.transition(machine, state, trigger))
    if not specs:
        assert step is None
        return
    assert step is not None
    assert [move.spec for move in step.moves] == list(specs)
    for move in step.moves:
        spec = move.spec
        planned = spec.task is not None and spec.bind is not None
        assert move.static == {
            "machine": machine,
            "transition": spec.name,
            "from_state": state,
            "to_state": spec.target,
            "task": spec.task,
            "task_mode": defn.tasks[spec.task].mode if planned and spec.task else None,
        }
        assert move.key == (defn.lifecycle.transition_planned, *move.static.values())
        assert move.timers == defn.timers_in(machine, spec.target)
    clauses = [(s.guard, s.bind, s.assign, s.emit) for s in specs]
    assert step.reads == any(f is not None for fs in clauses for f in fs)


def test_a_step_is_made_once() -> None:
    defn = example(EXAMPLES[0])
    (machine, state, trigger), _ = next(iter(defn.transitions.items()))
    plans = _plans(defn)
    assert plans.step(machine, state, trigger) is plans.step(machine, state, trigger)
