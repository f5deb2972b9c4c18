"""One machine: its states and transitions resolved, its graph checked, its model built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, has_errors
from pmc.semantics.declarations import collect_data, field_models
from pmc.semantics.duplicates import duplicates
from pmc.semantics.graph_checks import expand_sources, graph_checks
from pmc.semantics.model import (
    FieldModel,
    MachineModel,
    SelectorTriggerModel,
    SignalTriggerModel,
    TransitionModel,
    TriggerModel,
)
from pmc.semantics.scope import Scope
from pmc.semantics.states import StateTable, resolve_states
from pmc.semantics.transitions import (
    TransitionInfo,
    mixed_selector_types,
    resolve_transition,
    selector_and_broadcast,
)
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class MachineResult:
    name: str
    model: MachineModel | None  # None: this machine has errors
    diagnostics: tuple[Diagnostic, ...]
    states: Mapping[str, ast.Name]
    finals: tuple[str, ...]
    reachable: frozenset[str] | None  # None: the graph was not analysed
    event_uses: tuple[ast.Name, ...]  # input events named by triggers
    tasks_run: frozenset[str]
    transitions: tuple[TransitionInfo, ...]  # as resolved, in source order


def analyze_machine(machine: ast.MachineDecl, scope: Scope) -> MachineResult:
    name = machine.name.text
    table, diagnostics = resolve_states(machine)
    data, found = collect_data(machine.data_blocks, f"machine `{name}`")
    diagnostics.extend(found)
    instance = data if machine.data_blocks else None
    transitions: list[TransitionInfo] = []
    for transition in machine.transitions:
        info, found = resolve_transition(transition, table, scope, instance)
        transitions.append(info)
        diagnostics.extend(found)
    diagnostics.extend(
        duplicates(
            machine.transitions,
            lambda t: t.name.text,
            lambda t: t.name.span,
            "PM0103",
            lambda t: f"duplicate transition `{t}` in machine `{name}`",
        )
    )
    diagnostics.extend(selector_and_broadcast(machine, scope))
    diagnostics.extend(mixed_selector_types(machine, transitions))
    reachable = None
    if table.resolved and table.initial is not None and all(t.resolved for t in transitions):
        sources = expand_sources(transitions, table)
        found, reachable = graph_checks(transitions, sources, table)
        diagnostics.extend(found)
        # A trigger or run may be unresolved without a diagnostic here, when
        # the cause (say, a field's unknown type) is reported with its event.
        if not has_errors(diagnostics) and all(t.modelled for t in transitions):
            model = _machine_model(machine, table, transitions, sources, field_models(data))
            return _result(name, model, diagnostics, table, reachable, transitions)
    return _result(name, None, diagnostics, table, reachable, transitions)


def _result(
    name: str,
    model: MachineModel | None,
    diagnostics: Sequence[Diagnostic],
    table: StateTable,
    reachable: frozenset[str] | None,
    transitions: Sequence[TransitionInfo],
) -> MachineResult:
    return MachineResult(
        name,
        model,
        tuple(diagnostics),
        table.declared,
        table.finals,
        reachable,
        tuple(t.trigger.event for t in transitions if t.trigger.event is not None),
        frozenset(t.runs for t in transitions if t.runs is not None),
        tuple(transitions),
    )


def _machine_model(
    machine: ast.MachineDecl,
    table: StateTable,
    transitions: Sequence[TransitionInfo],
    sources: Sequence[tuple[str, ...]],
    data: tuple[FieldModel, ...],
) -> MachineModel:
    assert table.initial is not None
    models = []
    for t, from_states in zip(transitions, sources, strict=True):
        assert t.target is not None and t.trigger.model is not None
        run = None
        if t.run is not None:
            assert t.run.model is not None
            run = t.run.model
        decl = t.decl
        emits = tuple(e.model for e in t.emits if e.model is not None)
        models.append(
            TransitionModel(
                decl.name.text,
                from_states,
                t.target,
                t.trigger.model,
                run,
                guard=t.guard,
                keep=t.keep,
                sets=t.sets,
                emits=emits,
                from_wildcard=any(isinstance(s, ast.Wildcard) for s in decl.sources),
                span=decl.name.span,
                endpoints_span=decl.sources[0].span.cover(decl.target.span),
                trigger_span=decl.trigger.span,
            )
        )
    multi = any(_selects(t.trigger.model) for t in transitions)
    return MachineModel(
        machine.name.text,
        tuple(table.declared),
        table.initial,
        table.finals,
        multi,
        tuple(models),
        data=data,
        span=machine.name.span,
        state_spans=tuple(name.span for name in table.declared.values()),
        states_span=machine.states_clauses[0].span,
        initial_span=machine.initial_clauses[0].state.span,
    )


def _selects(trigger: TriggerModel | None) -> bool:
    """A selector (of an event or a signal) names instances: the machine has many."""
    if isinstance(trigger, SignalTriggerModel):
        return trigger.field is not None
    return isinstance(trigger, SelectorTriggerModel)
