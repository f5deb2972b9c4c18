"""The checks on a resolved machine's graph (PM0312, PM0401-PM0408, PM0905), as diagnostics.

The algorithms live in :mod:`pmc.semantics.graph`; this module prepares their
plain inputs and words their results.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics import graph
from pmc.semantics.model import Outcome
from pmc.semantics.states import StateTable
from pmc.semantics.transitions import TransitionInfo
from pmc.source import Span
from pmc.syntax import ast


def expand_sources(
    transitions: Sequence[TransitionInfo], table: StateTable
) -> tuple[tuple[str, ...], ...]:
    """Each transition's sources with ``*`` expanded, in the order written.

    ``*`` is every non-final state; for an outcome trigger ``T completed|failed``
    only those where the outcome can arrive (a transition running ``T`` enters
    them), so that ``*`` does not make the trigger dead or nondeterministic.
    """
    non_final = table.non_final()
    # Where a task may be in flight, from the transitions whose sources do
    # not depend on it (a `keep` on a `*` outcome transition is left out).
    entered = graph.entered_with_task(
        graph.Arc(_plain_sources(t, non_final), t.target, None, runs=t.runs, keeps=t.keep)
        for t in transitions
        if t.target is not None
    )
    # Computed once per task, and only for outcome triggers written with `*`,
    # to keep the expansion linear in what it produces.
    live: dict[str, tuple[str, ...]] = {}
    expanded: list[tuple[str, ...]] = []
    for t in transitions:
        names: list[str] = []
        for source in t.decl.sources:
            if not isinstance(source, ast.Wildcard):
                names.append(source.text)
                continue
            task = t.outcome_task
            if task is None:
                names.extend(non_final)
                continue
            if task not in live:
                states = entered.get(task, frozenset())
                live[task] = tuple(s for s in non_final if s in states)
            names.extend(live[task])
        expanded.append(tuple(dict.fromkeys(names)))
    return tuple(expanded)


def _plain_sources(t: TransitionInfo, non_final: tuple[str, ...]) -> tuple[str, ...]:
    """The sources, ``*`` expanded unless it depends on where a task may be in flight."""
    if t.outcome_task is None and _via_wildcard(t.decl):
        return non_final
    return t.explicit


def _arcs(
    transitions: Sequence[TransitionInfo], sources: Sequence[tuple[str, ...]]
) -> tuple[graph.Arc, ...]:
    arcs = []
    for t, from_states in zip(transitions, sources, strict=True):
        assert t.target is not None
        task = t.outcome_task
        outcome = None
        if task is not None and isinstance(t.decl.trigger, ast.OutcomeTrigger):
            outcome = (task, Outcome(t.decl.trigger.outcome.value))
        arc = graph.Arc(
            from_states,
            t.target,
            t.trigger.identity,
            t.runs,
            outcome,
            t.guarded,
            t.keep,
            timer=t.trigger.is_timer,
        )
        arcs.append(arc)
    return tuple(arcs)


def graph_checks(
    transitions: Sequence[TransitionInfo],
    sources: Sequence[tuple[str, ...]],
    table: StateTable,
) -> tuple[list[Diagnostic], frozenset[str]]:
    assert table.initial is not None
    arcs = _arcs(transitions, sources)
    states = tuple(table.declared)
    found: list[Diagnostic] = []
    summary = graph.reachability(states, table.initial, table.finals, arcs)
    for state in summary.unreachable:
        found.append(
            Diagnostic(
                "PM0401",
                f"state `{state}` is unreachable",
                table.declared[state].span,
                label=f"no path from the initial state `{table.initial}` leads here",
                help=f"add a transition into `{state}`, or remove the state",
            )
        )
    for state in summary.traps:
        found.append(
            Diagnostic(
                "PM0402",
                f"state `{state}` is a trap: no final state can be reached from it",
                table.declared[state].span,
                label="an instance that enters it never finishes",
                help=f"add a transition from `{state}` towards a final state, or make it final",
            )
        )
    found.extend(_conflict_diagnostics(transitions, arcs))
    found.extend(_shadowed_diagnostics(transitions, arcs))
    running = graph.entered_with_task(arcs)
    unsure = _unsure(transitions, sources)
    found.extend(_outcome_gap_diagnostics(transitions, arcs, table, running, unsure))
    found.extend(_dead_outcome_diagnostics(transitions, running, table, unsure))
    found.extend(_all_guarded_diagnostics(transitions, arcs, running, unsure))
    found.extend(_not_running_diagnostics(transitions, sources, running, unsure))
    return found, summary.reachable


@dataclass(frozen=True, slots=True)
class _Unsure:
    """Where an unknown task name (already reported) could stand for any task.

    ``in_flight``: states some tasks may be in flight in that the graph does
    not show (a transition with an unknown `run` or `keep` enters them, or
    keeps a task into them from such a state). ``handled``: states an outcome
    trigger of an unknown task leaves, which may handle any task's outcome.
    The outcome checks say nothing there that the unknown name could make
    wrong, and check the rest of the machine.
    """

    in_flight: frozenset[str]
    handled: frozenset[str]


def _unsure(transitions: Sequence[TransitionInfo], sources: Sequence[tuple[str, ...]]) -> _Unsure:
    handled: set[str] = set()
    in_flight: set[str] = set()
    for t, from_states in zip(transitions, sources, strict=True):
        if isinstance(t.decl.trigger, ast.OutcomeTrigger) and t.trigger.task is None:
            handled.update(from_states)
        unknown_run = t.run is not None and t.run.task is None
        unknown_keep = t.decl.keep is not None and len(t.keep) < len(
            {n.text for n in t.decl.keep.tasks}
        )
        if t.target is not None and (unknown_run or unknown_keep):
            in_flight.add(t.target)
    keeping: dict[str, list[str]] = {}
    for t, from_states in zip(transitions, sources, strict=True):
        if t.keep and t.target is not None:
            for source in from_states:
                keeping.setdefault(source, []).append(t.target)
    return _Unsure(graph.closure(in_flight, keeping), frozenset(handled))


def _state_list(states: Sequence[str]) -> str:
    return ", ".join(f"`{s}`" for s in states)


def _conflict_diagnostics(
    transitions: Sequence[TransitionInfo], arcs: Sequence[graph.Arc]
) -> Iterator[Diagnostic]:
    for conflict in graph.conflicts(arcs):
        first = transitions[conflict.first].decl
        second = transitions[conflict.second]
        states = _state_list(conflict.states)
        via_wildcard = _via_wildcard(first, second.decl)
        yield Diagnostic(
            "PM0403",
            f"transitions `{first.name.text}` and `{second.decl.name.text}` both leave "
            f"{states} on {second.trigger.display}",
            second.decl.name.span,
            label=f"conflicts with `{first.name.text}`",
            labels=(Label(first.name.span, f"`{first.name.text}` declared here"),),
            notes=("`*` stands for every non-final state",) if via_wildcard else (),
            help="a machine must know which transition to take: change a source or a trigger",
        )


def _via_wildcard(*transitions: ast.Transition) -> bool:
    return any(isinstance(s, ast.Wildcard) for t in transitions for s in t.sources)


def _shadowed_diagnostics(
    transitions: Sequence[TransitionInfo], arcs: Sequence[graph.Arc]
) -> Iterator[Diagnostic]:
    """PM0408: a guarded transition after an unguarded one on its state and trigger."""
    for pair in graph.shadowed(arcs):
        first = transitions[pair.first].decl
        second = transitions[pair.second]
        via_wildcard = _via_wildcard(first, second.decl)
        yield Diagnostic(
            "PM0408",
            f"transition `{second.decl.name.text}` can never be taken in "
            f"{_state_list(pair.states)}: `{first.name.text}` comes before it, without a guard",
            second.decl.name.span,
            label=f"`{first.name.text}` is always taken first",
            labels=(Label(first.name.span, "taken whenever its trigger comes"),),
            notes=(
                "transitions on one state and trigger are tried in source order; "
                "the first whose guard holds is taken",
                *(("`*` stands for every non-final state",) if via_wildcard else ()),
            ),
            help=f"move `{second.decl.name.text}` before `{first.name.text}`: the transition "
            "without a guard is the fallback and comes last",
        )


def _all_guarded_diagnostics(
    transitions: Sequence[TransitionInfo],
    arcs: Sequence[graph.Arc],
    running: Mapping[str, frozenset[str]],
    unsure: _Unsure,
) -> Iterator[Diagnostic]:
    """PM0905 (warning): every transition on a task outcome, a timer or a deadline in a
    state has a guard."""
    for group in graph.all_guarded(arcs, running):
        t = transitions[group.first]
        if t.trigger.is_timer:
            what = "timer" if isinstance(t.decl.trigger, ast.TimerTrigger) else "deadline"
            note = (
                f"when no guard holds, the {what} fires for nothing and does not fire again "
                "in that state: the instance may wait for good"
            )
        elif unsure.handled.intersection(group.states):
            continue  # a transition on an unknown task's outcome may be the fallback
        else:
            what = "outcome"
            note = (
                "when no guard holds, the outcome changes nothing and the task "
                "will not report again: the instance may wait for good"
            )
        yield Diagnostic(
            "PM0905",
            f"every transition on {t.trigger.display} in {_state_list(group.states)} has a guard",
            t.decl.name.span,
            label=f"no transition without a guard follows it on this {what}",
            notes=(note,),
            help="add a transition without `when` after the guarded ones, as the fallback",
        )


def _not_running_diagnostics(
    transitions: Sequence[TransitionInfo],
    sources: Sequence[tuple[str, ...]],
    running: Mapping[str, frozenset[str]],
    unsure: _Unsure,
) -> Iterator[Diagnostic]:
    """PM0312: ``keep T`` where ``T`` cannot be in flight.

    Listed sources must each run it; ``*`` needs some state it stands for to.
    """
    for t, from_states in zip(transitions, sources, strict=True):
        clause = t.decl.keep
        if clause is None:
            continue
        wildcard = _via_wildcard(t.decl)
        names = {name.text: name for name in reversed(clause.tasks)}
        for task in t.keep:
            live = running.get(task, frozenset()) | unsure.in_flight
            if wildcard:
                idle = () if live & frozenset(from_states) else from_states
            else:
                idle = tuple(s for s in t.explicit if s not in live)
            if not idle:
                continue
            yield Diagnostic(
                "PM0312",
                f"transition `{t.decl.name.text}` keeps `{task}`, which is never in flight "
                f"in {_state_list(idle)}",
                names[task].span,
                label=f"not in flight in {_state_list(idle)}",
                help=f"no transition entering {_state_list(idle)} runs or keeps `{task}`: "
                "remove it from `keep`, or leave from the state that runs it",
            )


def _outcome_gap_diagnostics(
    transitions: Sequence[TransitionInfo],
    arcs: Sequence[graph.Arc],
    table: StateTable,
    running: Mapping[str, frozenset[str]],
    unsure: _Unsure,
) -> Iterator[Diagnostic]:
    finals = frozenset(table.finals)
    for gap in graph.outcome_gaps(arcs, table.finals, running):
        task, state = gap.task, gap.state
        if state in unsure.handled:
            continue
        anchor, starts = _task_named(transitions[gap.arc].decl, task, gap.kept)
        triggers = [f"`{task} {outcome}`" for outcome in gap.missing]
        if state in finals:
            message = (
                f"task `{task}` {'stays in flight' if gap.kept else 'runs'} on entering "
                f"final state `{state}`, where its outcome is never handled"
            )
            help = f"run `{task}` on a transition into a non-final state that handles its outcome"
        elif len(triggers) == 2:
            message = f"state `{state}` handles neither {triggers[0]} nor {triggers[1]}"
            help = f"add transitions from `{state}` on {triggers[0]} and on {triggers[1]}"
        else:
            message = f"state `{state}` does not handle {triggers[0]}"
            help = f"add a transition from `{state}` on {triggers[0]}"
        yield Diagnostic(
            "PM0404",
            message,
            anchor,
            label=f"`{task}` {starts} on entering `{state}`",
            notes=("an instance waiting for an unhandled outcome never moves on",),
            help=help,
        )


def _task_named(decl: ast.Transition, task: str, kept: bool) -> tuple[Span, str]:
    """Where a transition names ``task`` it runs or keeps, and what it does with it."""
    if not kept:
        assert decl.run is not None
        return decl.run.task.span, "starts"
    assert decl.keep is not None
    name = next(n for n in decl.keep.tasks if n.text == task)
    return name.span, "stays in flight"


def _dead_outcome_diagnostics(
    transitions: Sequence[TransitionInfo],
    entered: Mapping[str, frozenset[str]],
    table: StateTable,
    unsure: _Unsure,
) -> Iterator[Diagnostic]:
    finals = frozenset(table.finals)
    for t in transitions:
        task = t.outcome_task
        if task is None:
            continue
        # A state an unknown `run` or `keep` enters may have the task in flight.
        live = entered.get(task, frozenset()) | unsure.in_flight
        display = t.trigger.display
        for source in t.decl.sources:
            if isinstance(source, ast.Wildcard):
                if not live - finals:
                    yield Diagnostic(
                        "PM0405",
                        f"{display} can never happen in any state `*` stands for",
                        source.span,
                        label=f"no transition running `{task}` enters a non-final state",
                        help=_outcome_states_help(task, live, table),
                    )
            elif source.text not in live and source.text not in finals:
                yield Diagnostic(
                    "PM0405",
                    f"{display} can never happen in state `{source.text}`",
                    source.span,
                    label=f"no transition running `{task}` enters `{source.text}`",
                    help=_outcome_states_help(task, live, table),
                )


def _outcome_states_help(task: str, live: frozenset[str], table: StateTable) -> str:
    if not live:
        return f"no transition of machine `{table.machine}` runs `{task}`"
    ordered = [s for s in table.declared if s in live]
    return f"the outcomes of `{task}` arrive in {_state_list(ordered)}"
