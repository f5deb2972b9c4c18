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
    guarded: bool = False  # taken only when its guard holds
    keeps: tuple[str, ...] = ()  # tasks that stay in flight into ``target``
    timer: bool = False  # a timer or `at` deadline: fires once per stay in a state


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


def closure(starts: Iterable[str], graph: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """``starts`` and every node their edges in ``graph`` lead to."""
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
    return closure((initial,), _successors(arcs))


def can_reach(goals: Iterable[str], arcs: Iterable[Arc]) -> frozenset[str]:
    """States from which some path leads into ``goals`` (the goals included)."""
    return closure(goals, _predecessors(arcs))


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
    """Nondeterminism: each later unguarded arc against the first unguarded arc leaving a
    state on its trigger. (Guarded arcs are tried in order, the unguarded one last.)"""
    return _pairs(arcs, shadowed=False)


def shadowed(arcs: Sequence[Arc]) -> tuple[Conflict, ...]:
    """Guarded arcs that an earlier unguarded arc on their state and trigger always wins."""
    return _pairs(arcs, shadowed=True)


def _pairs(arcs: Sequence[Arc], shadowed: bool) -> tuple[Conflict, ...]:
    owner: dict[tuple[str, Hashable], int] = {}
    clashes: dict[tuple[int, int], list[str]] = {}
    for index, arc in enumerate(arcs):
        for source in dict.fromkeys(arc.sources):
            key = (source, arc.trigger)
            first = owner.get(key) if arc.guarded else owner.setdefault(key, index)
            if first is not None and first != index and arc.guarded is shadowed:
                clashes.setdefault((first, index), []).append(source)
    ordered = sorted(clashes.items(), key=lambda item: (item[0][1], item[0][0]))
    return tuple(Conflict(first, second, tuple(states)) for (first, second), states in ordered)


def entered_with_task(arcs: Iterable[Arc]) -> dict[str, frozenset[str]]:
    """For each task, the states it may be in flight in.

    Those a transition running it enters, and those a transition keeping it
    enters from a state where it may be in flight. Only in these states can
    the task's outcome arrive.
    """
    entered: dict[str, set[str]] = {}
    kept: dict[str, dict[str, list[str]]] = {}
    for arc in arcs:
        if arc.runs is not None:
            entered.setdefault(arc.runs, set()).add(arc.target)
        for task in arc.keeps:
            targets = kept.setdefault(task, {})
            for source in arc.sources:
                targets.setdefault(source, []).append(arc.target)
    running = {task: frozenset(states) for task, states in entered.items()}
    for task, graph in kept.items():
        running[task] = closure(running.get(task, frozenset()), graph)
    return running


@dataclass(frozen=True, slots=True)
class OutcomeGap:
    """Arc ``arc`` runs (or keeps) ``task`` into ``state``, where ``missing`` outcomes are
    not handled."""

    arc: int
    state: str
    task: str
    missing: tuple[Outcome, ...]
    kept: bool = False  # the arc keeps the task rather than running it


def outcome_gaps(
    arcs: Sequence[Arc],
    finals: Iterable[str],
    running: Mapping[str, frozenset[str]] | None = None,
) -> tuple[OutcomeGap, ...]:
    """Each (state, task) pair entered with a task but not handling both outcomes.

    A final state handles nothing. Reported once per pair, for the first arc.
    A task kept from no state where it is in flight (``running``) enters
    nothing: that mistake is the ``keep``'s.
    """
    if running is None:
        running = entered_with_task(arcs)
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
        entering = [
            (task, True)
            for task in arc.keeps
            if not running.get(task, frozenset()).isdisjoint(arc.sources)
        ]
        if arc.runs is not None:
            entering.insert(0, (arc.runs, False))
        for task, kept in entering:
            if (arc.target, task) in seen:
                continue
            seen.add((arc.target, task))
            missing = tuple(
                outcome
                for outcome in Outcome
                if arc.target in final_set or (arc.target, task, outcome) not in handled
            )
            if missing:
                gaps.append(OutcomeGap(index, arc.target, task, missing, kept))
    return tuple(gaps)


@dataclass(frozen=True, slots=True)
class Unguarded:
    """In ``states``, every arc on the outcome or timer trigger of arc ``first`` is guarded."""

    first: int
    states: tuple[str, ...]


def all_guarded(
    arcs: Sequence[Arc], running: Mapping[str, frozenset[str]]
) -> tuple[Unguarded, ...]:
    """Where an outcome can arrive, or a timer or deadline fire, and every transition
    waiting for it has a guard.

    Should no guard hold, the outcome or timer changes nothing, and it will
    not come again in that state: the instance may wait for good. A state
    that also waits for an event or an outcome, or has a timer without a
    guard, still has a way out: its guarded timers are not reported.
    """
    first: dict[tuple[str, Hashable], int] = {}
    fallback: set[tuple[str, Hashable]] = set()
    other_exit: set[str] = set()
    for index, arc in enumerate(arcs):
        if not arc.timer:
            other_exit.update(arc.sources)
        if arc.outcome is None and not arc.timer:
            continue
        live = running.get(arc.outcome[0], frozenset()) if arc.outcome else arc.sources
        for source in arc.sources:
            if source in live:
                first.setdefault((source, arc.trigger), index)
                if not arc.guarded:
                    fallback.add((source, arc.trigger))
                    if arc.timer:
                        other_exit.add(source)
    grouped: dict[int, list[str]] = {}
    for key, index in first.items():
        stuck = not arcs[index].timer or key[0] not in other_exit
        if key not in fallback and stuck:
            grouped.setdefault(index, []).append(key[0])
    return tuple(Unguarded(index, tuple(states)) for index, states in sorted(grouped.items()))


def components(nodes: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative), each in discovery order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in nodes:
        if root in index:
            continue
        visit(root)
        work = [(root, iter(edges.get(root, ())))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    visit(nxt)
                    work.append((nxt, iter(edges.get(nxt, ()))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while not component or component[-1] != node:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                    found.append(component[::-1])
    return found


def cycle_through(
    start: str,
    members: frozenset[str],
    edges: Mapping[str, Sequence[str]],
    goal: str | None = None,
) -> list[str] | None:
    """A shortest path ``start -> ... -> start`` inside ``members``, or None.

    With ``goal``, a shortest path of at least one step to ``goal`` instead:
    with the edge ``goal -> start``, it closes a cycle through that edge.
    """
    goal = start if goal is None else goal
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, ()):
            if nxt == goal:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), goal]
            if nxt in members and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None
