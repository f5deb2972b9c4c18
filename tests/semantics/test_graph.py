"""The graph algorithms on small hand-made machines, and their linear cost."""

from __future__ import annotations

import gc
import time
from collections.abc import Hashable
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from pmc.semantics import graph
from pmc.semantics.graph import Arc, Conflict, OutcomeGap
from pmc.semantics.model import Outcome

COMPLETED, FAILED = Outcome.COMPLETED, Outcome.FAILED


def arc(
    sources: str,
    target: str,
    trigger: Hashable = "Go",
    runs: str | None = None,
    outcome: tuple[str, Outcome] | None = None,
) -> Arc:
    return Arc(tuple(sources.split()), target, trigger, runs, outcome)


def test_reachable_follows_transitions_from_initial_only() -> None:
    arcs = [arc("A", "B"), arc("B", "C"), arc("D", "A")]
    assert graph.reachable("A", arcs) == {"A", "B", "C"}
    assert graph.unreachable_states(("A", "B", "C", "D", "E"), "A", arcs) == ("D", "E")


def test_reachable_handles_cycles_and_self_loops() -> None:
    arcs = [arc("A", "B"), arc("B", "A"), arc("B", "B")]
    assert graph.reachable("A", arcs) == {"A", "B"}


def test_can_reach_walks_backwards_from_the_goals() -> None:
    arcs = [arc("A", "B"), arc("B", "Done"), arc("C", "C")]
    assert graph.can_reach({"Done"}, arcs) == {"A", "B", "Done"}


def test_a_state_with_no_way_to_a_final_state_is_a_trap() -> None:
    arcs = [arc("A", "B"), arc("A", "Stuck"), arc("B", "Done"), arc("Stuck", "Stuck")]
    states = ("A", "B", "Stuck", "Done")
    assert graph.trap_states(states, "A", {"Done"}, arcs) == ("Stuck",)


def test_unreachable_states_are_not_also_traps() -> None:
    arcs = [arc("A", "Done")]
    assert graph.trap_states(("A", "Orphan", "Done"), "A", {"Done"}, arcs) == ()


def test_a_cycle_that_never_leaves_is_a_trap_in_every_state() -> None:
    arcs = [arc("A", "B"), arc("B", "C"), arc("C", "B"), arc("A", "Done")]
    assert graph.trap_states(("A", "B", "C", "Done"), "A", {"Done"}, arcs) == ("B", "C")


def test_initial_is_a_trap_when_no_final_state_is_reachable() -> None:
    assert graph.trap_states(("A", "Done"), "A", {"Done"}, []) == ("A",)


def test_two_arcs_leaving_one_state_on_one_trigger_conflict() -> None:
    arcs = [arc("A", "B"), arc("A", "C"), arc("A", "C", trigger="Other")]
    assert graph.conflicts(arcs) == (Conflict(0, 1, ("A",)),)


def test_conflicts_through_an_expanded_wildcard_list_every_shared_state() -> None:
    # `*` on a machine with non-final A, B, C expands to all three sources.
    arcs = [arc("A B C", "Done", trigger="Cancel"), arc("B", "A", trigger="Cancel")]
    assert graph.conflicts(arcs) == (Conflict(0, 1, ("B",)),)


def test_each_later_arc_is_reported_against_the_first() -> None:
    arcs = [arc("A", "B"), arc("A", "C"), arc("A", "D")]
    assert graph.conflicts(arcs) == (Conflict(0, 1, ("A",)), Conflict(0, 2, ("A",)))


def test_a_state_listed_twice_in_one_arc_is_not_a_conflict() -> None:
    assert graph.conflicts([arc("A A", "B")]) == ()


def test_different_triggers_never_conflict() -> None:
    arcs = [arc("A", "B", trigger=("timer", 1000)), arc("A", "C", trigger=("timer", 2000))]
    assert graph.conflicts(arcs) == ()


def test_outcome_gaps_name_the_missing_outcomes() -> None:
    arcs = [
        arc("A", "Busy", runs="T"),
        arc("Busy", "Done", trigger="T+", outcome=("T", COMPLETED)),
    ]
    assert graph.outcome_gaps(arcs, {"Done"}) == (OutcomeGap(0, "Busy", "T", (FAILED,)),)


def test_a_state_handling_both_outcomes_has_no_gap() -> None:
    arcs = [
        arc("A", "Busy", runs="T"),
        arc("Busy", "Done", trigger="T+", outcome=("T", COMPLETED)),
        arc("Busy", "Done", trigger="T-", outcome=("T", FAILED)),
    ]
    assert graph.outcome_gaps(arcs, {"Done"}) == ()


def test_a_task_run_into_a_final_state_handles_nothing() -> None:
    arcs = [arc("A", "Done", runs="T"), arc("Done", "A", trigger="T+", outcome=("T", COMPLETED))]
    assert graph.outcome_gaps(arcs, {"Done"}) == (OutcomeGap(0, "Done", "T", (COMPLETED, FAILED)),)


def test_outcome_gaps_are_reported_once_per_state_and_task() -> None:
    arcs = [arc("A", "Busy", runs="T"), arc("B", "Busy", runs="T")]
    assert graph.outcome_gaps(arcs, ()) == (OutcomeGap(0, "Busy", "T", (COMPLETED, FAILED)),)


def test_entered_with_task_collects_targets_per_task() -> None:
    arcs = [
        arc("A", "B", runs="T"),
        arc("B", "C", runs="T"),
        arc("C", "D", runs="U"),
        arc("D", "A"),
    ]
    assert graph.entered_with_task(arcs) == {"T": {"B", "C"}, "U": {"D"}}


def _chain(size: int) -> tuple[tuple[str, ...], list[Arc]]:
    states = tuple(f"S{i}" for i in range(size))
    arcs = [Arc((states[i],), states[i + 1], ("event", "Next")) for i in range(size - 1)]
    return states, arcs


def _analysis_seconds(size: int) -> float:
    """CPU seconds of this thread analysing a chain of ``size`` states, best of three."""
    states, arcs = _chain(size)
    # Without the collector: its passes grow with everything the process
    # holds, which says nothing of the analysis.
    gc.disable()
    try:
        return min(_timed_analysis(states, arcs) for _ in range(3))
    finally:
        gc.enable()


def _timed_analysis(states: tuple[str, ...], arcs: list[Arc]) -> float:
    # CPU time of this thread, so that threads an earlier test left running
    # in this process do not count.
    started = time.thread_time()
    assert graph.unreachable_states(states, states[0], arcs) == ()
    assert graph.trap_states(states, states[0], {states[-1]}, arcs) == ()
    assert graph.conflicts(arcs) == ()
    assert graph.outcome_gaps(arcs, {states[-1]}) == ()
    return time.thread_time() - started


def test_a_100000_state_chain_is_analysed_in_linear_time() -> None:
    # Ten times the states: about ten times the time if linear, a hundred if
    # quadratic. A ratio, as a busy machine slows both sizes alike (an
    # absolute bound failed in CI under load: 2.5 s for 0.45 s on a quiet one).
    small, large = _analysis_seconds(10_000), _analysis_seconds(100_000)
    assert large / max(small, 1e-6) < 30, (small, large)


def test_a_long_chain_without_a_final_state_makes_every_state_a_trap() -> None:
    states, arcs = _chain(100_000)
    traps = graph.trap_states(states, states[0], {"Elsewhere"}, arcs)
    assert len(traps) == len(states)


# ---- against a naive fixed point on random small graphs --------------------------------

STATES = ("A", "B", "C", "D", "E", "F")

small_arcs = st.lists(
    st.builds(
        lambda sources, target: Arc(tuple(sources), target, "Go"),
        st.lists(st.sampled_from(STATES), min_size=1, max_size=3),
        st.sampled_from(STATES),
    ),
    max_size=10,
)


def _naive_reachable(initial: str, arcs: list[Arc]) -> set[str]:
    seen = {initial}
    changed = True
    while changed:
        changed = False
        for a in arcs:
            if set(a.sources) & seen and a.target not in seen:
                seen.add(a.target)
                changed = True
    return seen


@given(small_arcs, st.sets(st.sampled_from(STATES), min_size=1))
def test_reachability_agrees_with_a_naive_fixed_point(arcs: list[Arc], finals: set[str]) -> None:
    seen = _naive_reachable("A", arcs)
    assert graph.reachable("A", arcs) == seen
    naive_traps = tuple(
        s
        for s in STATES
        if s in seen and s not in finals and not (_naive_reachable(s, arcs) & finals)
    )
    assert graph.trap_states(STATES, "A", finals, arcs) == naive_traps


# ---- second edition: guards, keep, signal cycles ----------------------------------------


def guarded(sources: str, target: str, trigger: Hashable = "Go") -> Arc:
    return Arc(tuple(sources.split()), target, trigger, guarded=True)


def test_guarded_arcs_never_conflict_but_an_earlier_unguarded_one_shadows_them() -> None:
    arcs = [guarded("A", "B"), arc("A B", "C"), guarded("A B", "D"), arc("B", "E")]
    assert graph.conflicts(arcs) == (Conflict(1, 3, ("B",)),)
    assert graph.shadowed(arcs) == (Conflict(1, 2, ("A", "B")),)


def test_a_kept_task_is_in_flight_where_it_is_kept_to() -> None:
    arcs = [
        arc("A", "Busy", runs="T"),
        Arc(("Busy",), "Held", "Stop", keeps=("T",)),
        Arc(("Held",), "Parked", "Stop", keeps=("T",)),
        Arc(("Idle",), "Nowhere", "Stop", keeps=("T",)),  # T never runs in Idle
    ]
    assert graph.entered_with_task(arcs) == {"T": {"Busy", "Held", "Parked"}}


def test_outcomes_every_arc_guards_are_found_where_they_can_arrive() -> None:
    running = {"T": frozenset({"Busy"})}
    fails = ("T", FAILED)
    arcs = [
        Arc(("Busy",), "A", fails, outcome=fails, guarded=True),
        Arc(("Busy", "Idle"), "B", fails, outcome=fails, guarded=True),
    ]
    assert graph.all_guarded(arcs, running) == (graph.Unguarded(0, ("Busy",)),)
    fallback = Arc(("Busy",), "C", fails, outcome=fails)
    assert graph.all_guarded([*arcs, fallback], running) == ()


def test_components_and_one_cycle_through_each() -> None:
    edges = {"A": ["B"], "B": ["C", "A"], "C": ["C"], "D": ["A"]}
    assert sorted(map(sorted, graph.components(["A", "B", "C", "D"], edges))) == [
        ["A", "B"],
        ["C"],
        ["D"],
    ]
    assert graph.cycle_through("A", frozenset({"A", "B"}), edges) == ["A", "B", "A"]
    assert graph.cycle_through("C", frozenset({"C"}), edges) == ["C", "C"]
    assert graph.cycle_through("D", frozenset({"D"}), edges) is None


def test_components_of_a_long_chain_take_no_recursion() -> None:
    names = [f"S{i}" for i in range(20_000)]
    edges = {a: [b] for a, b in pairwise(names)}
    edges[names[-1]] = [names[0]]
    assert [len(c) for c in graph.components(names, edges)] == [20_000]
