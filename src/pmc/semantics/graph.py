"""Graph algorithms over one machine's transitions, on plain names and indices.

Everything here is linear in the size of the machine (states plus expanded
transition sources) and iterative, so a machine of any size is analysed
without recursion limits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pmc.semantics.model import Outcome


@dataclass(frozen=True, slots=True)
class Arc:
    """One transition as the graph checks see it (sources already expanded)."""

    sources: tuple[str, ...]
    target: str
    trigger: Hashable  # equal for triggers that fire on the same occurrence
    runs: str | None = None  # the task started on entering ``target``
    outcome: tuple[str, Outcome] | None = None  # ``(task, outcome)`` of an outcome trigger


def _successors(arcs: Iterable[Arc]) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for arc in arcs:
        for source in arc.sources:
            graph.setdefault(source, []).append(arc.target)
    return graph


def _predecessors(arcs: Iterable[Arc]) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for arc in arcs:
        targets = graph.setdefault(arc.target, [])
        targets.extend(arc.sources)
    return graph


def _closure(starts: Iterable[str], graph: Mapping[str, Sequence[str]]) -> frozenset[str]:
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for nxt in graph.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return frozenset(seen)


def reachable(initial: str, arcs: Iterable[Arc]) -> frozenset[str]:
    """States some path of transitions leads to from ``initial`` (itself included)."""
    return _closure((initial,), _successors(arcs))


def can_reach(goals: Iterable[str], arcs: Iterable[Arc]) -> frozenset[str]:
    """States from which some path leads into ``goals`` (the goals included)."""
    return _closure(goals, _predecessors(arcs))


@dataclass(frozen=True, slots=True)
class Reachability:
    reachable: frozenset[str]
    unreachable: tuple[str, ...]  # in the order of ``states``
    traps: tuple[str, ...]  # reachable, not final, and no final state reachable from them


def reachability(
    states: Sequence[str], initial: str, finals: Iterable[str], arcs: Sequence[Arc]
) -> Reachability:
    """Unreachable and trap states in one pass over the graph each way.

    Unreachable states are never traps: they are reported as unreachable, and
    calling them traps as well would only repeat the problem.
    """
    final_set = frozenset(finals)
    seen = reachable(initial, arcs)
    escapes = can_reach(final_set, arcs)
    return Reachability(
        seen,
        tuple(s for s in states if s not in seen),
        tuple(s for s in states if s in seen and s not in final_set and s not in escapes),
    )


def unreachable_states(states: Sequence[str], initial: str, arcs: Sequence[Arc]) -> tuple[str, ...]:
    return reachability(states, initial, (), arcs).unreachable


def trap_states(
    states: Sequence[str], initial: str, finals: Iterable[str], arcs: Sequence[Arc]
) -> tuple[str, ...]:
    """Reachable non-final states from which no final state can be reached."""
    return reachability(states, initial, finals, arcs).traps


@dataclass(frozen=True, slots=True)
class Conflict:
    """Arcs ``first`` and ``second`` both leave ``states`` on the same trigger."""

    first: int
    second: int
    states: tuple[str, ...]


def conflicts(arcs: Sequence[Arc]) -> tuple[Conflict, ...]:
    """Nondeterminism: each later arc against the first arc leaving a state on its trigger."""
    owner: dict[tuple[str, Hashable], int] = {}
    clashes: dict[tuple[int, int], list[str]] = {}
    for index, arc in enumerate(arcs):
        for source in dict.fromkeys(arc.sources):
            first = owner.setdefault((source, arc.trigger), index)
            if first != index:
                clashes.setdefault((first, index), []).append(source)
    ordered = sorted(clashes.items(), key=lambda item: (item[0][1], item[0][0]))
    return tuple(Conflict(first, second, tuple(states)) for (first, second), states in ordered)


def entered_with_task(arcs: Iterable[Arc]) -> dict[str, frozenset[str]]:
    """For each task, the states that a transition running it enters.

    Only in these states can the task's outcome arrive.
    """
    entered: dict[str, set[str]] = {}
    for arc in arcs:
        if arc.runs is not None:
            entered.setdefault(arc.runs, set()).add(arc.target)
    return {task: frozenset(states) for task, states in entered.items()}


@dataclass(frozen=True, slots=True)
class OutcomeGap:
    """Arc ``arc`` runs ``task`` into ``state``, where ``missing`` outcomes are not handled."""

    arc: int
    state: str
    task: str
    missing: tuple[Outcome, ...]


def outcome_gaps(arcs: Sequence[Arc], finals: Iterable[str]) -> tuple[OutcomeGap, ...]:
    """Each (state, task) pair entered with a task but not handling both outcomes.

    A final state handles nothing. Reported once per pair, for the first arc.
    """
    final_set = frozenset(finals)
    handled = {
        (source, arc.outcome[0], arc.outcome[1])
        for arc in arcs
        if arc.outcome is not None
        for source in arc.sources
    }
    gaps: list[OutcomeGap] = []
    seen: set[tuple[str, str]] = set()
    for index, arc in enumerate(arcs):
        if arc.runs is None or (arc.target, arc.runs) in seen:
            continue
        seen.add((arc.target, arc.runs))
        missing = tuple(
            outcome
            for outcome in Outcome
            if arc.target in final_set or (arc.target, arc.runs, outcome) not in handled
        )
        if missing:
            gaps.append(OutcomeGap(index, arc.target, arc.runs, missing))
    return tuple(gaps)
