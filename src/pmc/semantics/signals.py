"""Signals across the process's machines: cycles (PM0311) and unused signals (PM0906, PM0907).

A signal is handled after the decisions of the event that raised it; a
transition on ``S`` that emits ``S`` (directly, or through other signals)
would raise signals for ever. The signals form a graph (``S -> T`` when a
transition on ``S`` emits ``T``); in each strongly connected part of it,
cycles are reported until every edge inside the part lies on a reported one
(so that fixing them all leaves no cycle the next run would find), each a
shortest cycle through the first edge not yet covered, at most
``_CYCLES_PER_GROUP`` per part. Each cycle costs one search of its part.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics import graph
from pmc.semantics.declarations import EventInfo
from pmc.semantics.machines import MachineResult
from pmc.source import Span


@dataclass(frozen=True, slots=True)
class _Emit:
    """Transition ``transition`` of ``machine``, on ``handles``, emits ``signal`` at ``span``."""

    machine: str
    transition: str
    handles: str | None
    signal: str
    span: Span


def _emits(machines: Sequence[MachineResult]) -> Iterator[_Emit]:
    for machine in machines:
        for t in machine.transitions:
            for clause, info in zip(t.decl.emits, t.emits, strict=True):
                if info.signal is not None:
                    yield _Emit(
                        machine.name, t.decl.name.text, t.handles, info.signal, clause.signal.span
                    )


def signal_diagnostics(
    signals: Mapping[str, EventInfo],
    machines: Sequence[MachineResult],
    redeclared: frozenset[str],
) -> Iterator[Diagnostic]:
    """PM0311, and PM0906/PM0907 for signals whose name is declared once (a duplicate is
    PM0101 alone: a use may have meant either declaration)."""
    emits = list(_emits(machines))
    yield from _cycles(signals, emits)
    once = {name: info for name, info in signals.items() if name not in redeclared}
    yield from _unused(once, emits, machines)


def _cycles(signals: Mapping[str, EventInfo], emits: Sequence[_Emit]) -> Iterator[Diagnostic]:
    edges: dict[str, list[str]] = {}
    first: dict[tuple[str, str], _Emit] = {}
    for emit in emits:
        if emit.handles is None or (emit.handles, emit.signal) in first:
            continue
        first[(emit.handles, emit.signal)] = emit
        edges.setdefault(emit.handles, []).append(emit.signal)
    for component in graph.components(list(signals), edges):
        yield from _group_cycles(component, edges, first)


# Cycles reported in one group of signals at most (each costs a search of
# the group); a note on the last says that more run through the group.
_CYCLES_PER_GROUP = 5


def _group_cycles(
    component: Sequence[str],
    edges: Mapping[str, Sequence[str]],
    first: Mapping[tuple[str, str], _Emit],
) -> Iterator[Diagnostic]:
    """Cycles through a group until each edge inside it is on one, in the group's order."""
    members = frozenset(component)
    inside = [(a, b) for a in component for b in edges.get(a, ()) if b in members]
    cycles: list[list[str]] = []
    covered: set[tuple[str, str]] = set()
    more = False
    for a, b in inside:
        if (a, b) in covered:
            continue
        if len(cycles) == _CYCLES_PER_GROUP:
            more = True
            break
        back = [b] if a == b else graph.cycle_through(b, members, edges, goal=a)
        assert back is not None  # in a strongly connected group, b reaches a
        path = [a, *back]
        covered.update(pairwise(path))
        cycles.append(path)
    for index, path in enumerate(cycles):
        steps = [first[(a, b)] for a, b in pairwise(path)]
        yield _cycle(path, steps, more and index == len(cycles) - 1)


# A cycle is spelled out up to this many steps; a longer one is cut short,
# so that no file makes one diagnostic of any size.
_SHOWN_STEPS = 8


def _cycle(path: Sequence[str], steps: Sequence[_Emit], more_cycles: bool) -> Diagnostic:
    closing = steps[-1]
    shown = steps[:_SHOWN_STEPS]
    more = len(steps) - len(shown)
    if len(steps) == 1:
        message = f"signal `{path[0]}` raises itself"
    else:
        names = [f"`{name}`" for name in path[:-1][:_SHOWN_STEPS]]
        names += [f"... ({more} more)"] if more else []
        message = "signals raise each other in a cycle: " + " -> ".join([*names, f"`{path[-1]}`"])
    notes = [
        f"transition `{step.transition}` of machine `{step.machine}` runs on "
        f"`{step.handles}` and emits `{step.signal}`"
        for step in shown
    ]
    if more:
        notes.append(f"... and {more} more steps back to `{path[-1]}`")
    if more_cycles:
        notes.append(
            f"more cycles run through these signals than the {_CYCLES_PER_GROUP} reported: "
            "fix these, then check again"
        )
    return Diagnostic(
        "PM0311",
        message,
        closing.span,
        label=f"raises `{closing.signal}` again",
        labels=tuple(
            Label(step.span, f"emits `{step.signal}`") for step in shown if step is not closing
        ),
        notes=tuple(notes),
        help="each signal would raise the next for ever: emit another signal, or handle it "
        "in a transition that does not emit the first again",
    )


def _unused(
    signals: Mapping[str, EventInfo], emits: Sequence[_Emit], machines: Sequence[MachineResult]
) -> Iterator[Diagnostic]:
    emitted: dict[str, _Emit] = {}
    for emit in emits:
        emitted.setdefault(emit.signal, emit)
    handled: dict[str, Span] = {}
    for machine in machines:
        for t in machine.transitions:
            if t.trigger.signal is not None:
                handled.setdefault(t.trigger.signal.text, t.trigger.signal.span)
    for name, info in signals.items():
        first = emitted.get(name)
        if name not in handled:
            yield Diagnostic(
                "PM0906",
                f"signal `{name}` is never handled",
                info.decl.name.span,
                label="no transition is triggered by it",
                labels=() if first is None else (Label(first.span, "emitted here"),),
                notes=("nor does any transition emit it",) if first is None else (),
                help=f"handle it (`on {name}`) in a transition, or remove it",
            )
        elif first is None:
            yield Diagnostic(
                "PM0907",
                f"signal `{name}` is handled but never emitted",
                info.decl.name.span,
                label="no transition emits it",
                labels=(Label(handled[name], "handled here"),),
                help=f"emit it from a transition (`emit {name}(...)`), or remove it and the "
                "transitions on it",
            )
