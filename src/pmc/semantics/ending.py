"""How a process starts and ends, checked together: `start on`, `cancel on`,
`complete when` and `fail when` that cannot mean what they say.

- PM0308: an event both starts and cancels the process;
- PM0309: `fail when` holds as soon as an event starts the process;
- PM0904 (warning): whenever `complete when` holds, `fail when` holds too,
  and failure is checked first, so the process can never complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics.machines import MachineResult
from pmc.semantics.model import EventTriggerModel, MachineModel, SelectorTriggerModel
from pmc.syntax import ast


def start_and_cancel(start: Sequence[ast.Name], cancel: Sequence[ast.Name]) -> Iterator[Diagnostic]:
    """PM0308: `start on X` with `cancel on X` (X would cancel every process it starts)."""
    starts = {name.text: name for name in start}
    for name in cancel:
        first = starts.get(name.text)
        if first is not None:
            yield Diagnostic(
                "PM0308",
                f"event `{name.text}` both starts and cancels the process",
                name.span,
                label="cancels the process",
                labels=(Label(first.span, "starts the process"),),
                help=f"remove `{name.text}` from `start on` or from `cancel on`",
                notes=(
                    "a cancelling event ends the process it starts at once: "
                    "nothing is ever planned",
                ),
            )


def fails_at_start(
    process: ast.Process,
    machines: Mapping[str, MachineResult],
    start: Sequence[ast.Name],
    cancel: Sequence[ast.Name],
) -> Iterator[Diagnostic]:
    """PM0309: an event that may start the process leaves a machine where `fail when` holds.

    A single-instance machine's instance is in `initial` from the start, and
    `fail when` is checked after the first event: if that event may start
    the process and no transition moves the machine out of `initial` on it,
    the process fails at once. (A multi-instance machine has no instance
    until its first transition, so it is left out.)
    """
    fails = process.of_type(ast.FailWhen)
    models = [m.model for m in machines.values()]
    if not fails or any(model is None for model in models):
        return
    known = [model for model in models if model is not None]
    cancelling = {name.text for name in cancel}
    starters = [name.text for name in start] if process.of_type(ast.StartOn) else _triggers(known)
    starters = [event for event in starters if event not in cancelling]
    for condition in fails[0].conditions:
        machine = machines.get(condition.machine.text)
        model = None if machine is None else machine.model
        if model is None or model.multi_instance:
            continue
        if model.initial not in {state.text for state in condition.states}:
            continue
        leaving = _leaving_initial(model)
        event = next((e for e in starters if e not in leaving), None)
        if event is None:
            continue
        yield Diagnostic(
            "PM0309",
            f"`fail when` holds as soon as `{event}` starts the process",
            condition.span,
            label=f"`{model.name}` starts in `{model.initial}`",
            help=f"name states `{model.name}` reaches later, or let `{event}` move "
            f"`{model.name}` out of `{model.initial}`",
            notes=(
                f"`{event}` may start the process and leaves `{model.name}` in "
                f"`{model.initial}`; `fail when` is checked after every event",
            ),
        )


def _triggers(models: Sequence[MachineModel]) -> list[str]:
    """The input events that trigger a transition (those that start a process by default)."""
    events: dict[str, None] = {}
    for model in models:
        for transition in model.transitions:
            if isinstance(transition.trigger, EventTriggerModel | SelectorTriggerModel):
                events.setdefault(transition.trigger.event)
    return list(events)


def _leaving_initial(model: MachineModel) -> frozenset[str]:
    """The events on which a single-instance machine leaves its initial state."""
    return frozenset(
        t.trigger.event
        for t in model.transitions
        if isinstance(t.trigger, EventTriggerModel)
        and model.initial in t.sources
        and t.target != model.initial
    )


def failure_overrides_completion(
    process: ast.Process, machines: Mapping[str, MachineResult]
) -> Iterator[Diagnostic]:
    """PM0904: some machine cannot satisfy `complete when` without satisfying `fail when`.

    `complete when` needs every instance of each machine it names in some
    states (the default: every machine, in final states) and at least one
    instance; `fail when any M in S` holds with one instance in `S`. When
    every reachable state `complete when` allows a machine is also one of
    its `fail when` states, completion always comes with failure, which is
    checked first and wins. (No reachable state allowed at all is PM0903.)
    """
    fails = process.of_type(ast.FailWhen)
    if not fails:
        return
    failing: dict[str, set[str]] = {}
    spans: dict[str, ast.AnyIn] = {}
    for any_in in fails[0].conditions:
        failing.setdefault(any_in.machine.text, set()).update(s.text for s in any_in.states)
        spans.setdefault(any_in.machine.text, any_in)
    completes = process.of_type(ast.CompleteWhen)
    conditions = completes[0].conditions if completes else None
    for name, allowed in _completion_states(conditions, machines).items():
        if name not in failing or not allowed or not allowed <= failing[name]:
            continue
        where = completes[0].span if completes else spans[name].span
        what = "`complete when`" if completes else "the default completion (all machines final)"
        yield Diagnostic(
            "PM0904",
            f"the process can never complete: whenever {what} holds, `fail when` holds too",
            where,
            label=f"needs every `{name}` in {_listed(allowed)}",
            labels=(Label(spans[name].span, "which fails the process"),) if completes else (),
            notes=("`fail when` is checked first, so failure wins",),
            help="leave a state that completes out of `fail when`, or change `complete when`",
        )
        return


def _completion_states(
    conditions: Sequence[ast.AllFinal | ast.AllIn] | None,
    machines: Mapping[str, MachineResult],
) -> dict[str, frozenset[str]]:
    """Per machine `complete when` constrains, the reachable states it allows its instances."""
    allowed: dict[str, frozenset[str]] = {}
    if conditions is None:
        for machine in machines.values():
            if machine.reachable is not None:
                allowed[machine.name] = machine.reachable & frozenset(machine.finals)
        return allowed
    for condition in conditions:
        named = machines.get(condition.machine.text)
        if named is None or named.reachable is None:
            continue
        if isinstance(condition, ast.AllFinal):
            states = frozenset(named.finals)
        else:
            states = frozenset(s.text for s in condition.states)
        allowed[named.name] = allowed.get(named.name, named.reachable) & states
    return allowed


def _listed(states: frozenset[str]) -> str:
    return ", ".join(f"`{state}`" for state in sorted(states))
