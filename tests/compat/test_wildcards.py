"""``*`` sources: one wildcard row per transition, looked up after the exact rows.

Expanding ``*`` into a row per state made a module grow with states times
wildcard transitions (an 84 KB source compiled to 39 MB); a wildcard row
keeps it linear in the source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType
from typing import Any, ClassVar
from uuid import uuid4

from pmc.runtime import (
    EventMeta,
    ProcessDefinition,
    ProcessState,
    TransitionSpec,
    TransitionTable,
)
from tests.codegen.support import compile_and_import, compile_text

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def wide(n: int) -> str:
    """A chain of ``n`` states, and ``n`` transitions from ``*`` on their own events."""
    states = ", ".join(f"S{i}" for i in range(n))
    events = "\n".join(f"    event E{i} {{ id: str }}" for i in range(n))
    chain = "\n".join(f"        transition step{i}: S{i} -> S{i + 1} on Next" for i in range(n - 1))
    stars = "\n".join(f"        transition out{i}: * -> Out on E{i}" for i in range(n))
    return f"""
process Wide {{
    key id
    event Next {{ id: str }}
{events}
    machine M {{
        states {states}, Out
        initial S0
        final Out
{chain}
{stars}
    }}
}}
"""


def test_a_module_grows_linearly_with_states_and_wildcard_transitions() -> None:
    small, large = (len(compile_text(wide(n)).encode()) for n in (40, 80))
    # Linear: twice the source, about twice the module. Expanded rows
    # (n * n of them) made it more than three times larger.
    assert large < 2.3 * small, (small, large)


def test_a_wildcard_transition_is_one_row() -> None:
    module = compile_and_import(wide(5))
    definition = module.DEFINITION

    assert len(definition.wildcard_transitions) == 5
    assert not any(trigger.startswith("E") for _, _, trigger in definition.transitions)
    assert definition.wildcard_transitions[("M", "E3")].name == "out3"


WILD = """
process Wild {
    key id
    event Go { id: str }
    event Stop { id: str }
    machine M {
        states A, B, Halted, Done
        initial A
        final Halted, Done
        transition go: A -> B on Go
        transition wait: B -> Done on after 30m
        transition stop: * -> Halted on Stop
        transition expire: * -> Done on after 1h
    }
}
"""


def _decide(definition: ProcessDefinition, state: ProcessState, event: Any) -> list[Any]:
    return definition.decide(state, event, EventMeta(uuid4(), T0, "k"))


def _wild() -> ModuleType:
    return compile_and_import(WILD)


def test_a_wildcard_row_applies_in_every_non_final_state() -> None:
    m = _wild()
    definition = m.DEFINITION
    in_a = definition.fold([m.Go(id="k")])  # a started process, before any decision
    for state in ("A", "B"):
        spec = definition.transition("M", state, "Stop")
        assert spec is not None and (spec.name, spec.target) == ("stop", "Halted")
    assert definition.transition("M", "Halted", "Stop") is None
    assert definition.transition("M", "Done", "Stop") is None
    assert in_a.state_of("M", "M") == "A"


def test_stop_moves_the_instance_from_whatever_state_it_is_in() -> None:
    m = _wild()
    definition = m.DEFINITION
    started = definition.initial_state()
    go = _decide(definition, started, m.Go(id="k"))
    in_b = definition.fold([m.Go(id="k"), *go])
    assert in_b.state_of("M", "M") == "B"

    stop = _decide(definition, in_b, m.Stop(id="k"))

    planned = [d for d in stop if isinstance(d, m.TransitionPlanned)]
    assert [(p.transition, p.from_state, p.to_state) for p in planned] == [("stop", "B", "Halted")]


def test_wildcard_timers_are_scheduled_after_the_states_own() -> None:
    m = _wild()
    definition = m.DEFINITION

    first = _decide(definition, definition.initial_state(), m.Go(id="k"))

    timers = [(d.transition, d.due_at - T0) for d in first if isinstance(d, m.TimerScheduled)]
    # A's timer (the wildcard `expire`) is not recorded: the first event
    # already left A. B's own `wait`, then the wildcard `expire`.
    assert [name for name, _ in timers] == ["wait", "expire"]
    assert definition.timers_in("M", "Done") == ()


def test_an_exact_row_is_looked_up_before_the_wildcard_row() -> None:
    m = _wild()

    class Exact(m.Wild):  # type: ignore[name-defined,misc]
        transitions: ClassVar[TransitionTable] = {
            **m.Wild.transitions,
            ("M", "B", "Stop"): TransitionSpec(name="go", target="Done"),
        }

    exact = Exact()
    assert exact.transition("M", "B", "Stop") == TransitionSpec(name="go", target="Done")
    assert exact.transition("M", "A", "Stop") == m.Wild.wildcard_transitions[("M", "Stop")]
    in_b = exact.fold([m.Go(id="k"), *_decide(exact, exact.initial_state(), m.Go(id="k"))])
    decided = _decide(exact, in_b, m.Stop(id="k"))
    assert [d.to_state for d in decided if isinstance(d, m.TransitionPlanned)] == ["Done"]


def test_rows_expand_wildcards_for_tools() -> None:
    rows = {key: spec.name for key, spec in _wild().DEFINITION.rows()}

    assert rows[("M", "A", "Stop")] == rows[("M", "B", "Stop")] == "stop"
    assert ("M", "Halted", "Stop") not in rows
    assert rows[("M", "B", "after:expire")] == "expire"


def test_replay_knows_the_edges_of_a_wildcard_row() -> None:
    from pmc.streams.replay import Catalog

    edges = Catalog.of(_wild().DEFINITION).edges

    assert {("M", "stop", "A", "Halted"), ("M", "stop", "B", "Halted")} <= edges
    assert ("M", "stop", "Halted", "Halted") not in edges
