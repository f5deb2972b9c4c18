"""The semantics stage as one pure function: ``analyze(module) -> Analysis``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, has_errors
from pmc.semantics.build import build_model
from pmc.semantics.collisions import collision_diagnostics
from pmc.semantics.declarations import Declarations, collect_declarations
from pmc.semantics.ending import fails_at_start, failure_overrides_completion, start_and_cancel
from pmc.semantics.machines import MachineResult, analyze_machine
from pmc.semantics.model import MachineModel, ProcessModel
from pmc.semantics.process import (
    event_list,
    key_field_diagnostics,
    resolve_conditions,
    resolve_key,
)
from pmc.semantics.scope import Scope
from pmc.semantics.signals import signal_diagnostics
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class Analysis:
    model: ProcessModel | None  # None while any error stands
    diagnostics: tuple[Diagnostic, ...]  # sorted by position


def analyze(
    module: ast.Module,
    machine_analysis: Callable[[ast.MachineDecl, Scope], MachineResult] = analyze_machine,
) -> Analysis:
    """Resolve and check a parsed file; every problem is reported in one run.

    ``machine_analysis`` analyses each machine (the editor's remembers them:
    :class:`pmc.semantics.memo.MachineMemo`, with the same results)."""
    process = module.process
    declarations = collect_declarations(process)
    key = resolve_key(process, declarations)
    scope = Scope(process.name.text, declarations, None if key.model is None else key.model.type)
    diagnostics = [*declarations.diagnostics, *key.diagnostics]
    diagnostics.extend(collision_diagnostics(process))

    results = [machine_analysis(machine, scope) for machine in process.machines]
    for result in results:
        diagnostics.extend(result.diagnostics)
    machines: dict[str, MachineResult] = {}
    for result in results:
        machines.setdefault(result.name, result)
    if not process.machines:
        diagnostics.append(_no_machine(process))

    start, found = event_list(process.of_type(ast.StartOn), scope)
    diagnostics.extend(found)
    cancel, found = event_list(process.of_type(ast.CancelOn), scope)
    diagnostics.extend(found)
    conditions = resolve_conditions(process, machines, scope)
    diagnostics.extend(conditions.diagnostics)
    diagnostics.extend(start_and_cancel(start, cancel))
    diagnostics.extend(fails_at_start(process, machines, start, cancel))
    diagnostics.extend(failure_overrides_completion(process, machines))

    uses = [(name, "used as a trigger here") for r in results for name in r.event_uses]
    uses += [(name, "named in `start on` here") for name in start]
    uses += [(name, "named in `cancel on` here") for name in cancel]
    diagnostics.extend(key_field_diagnostics(key, uses, declarations))
    diagnostics.extend(_unused(declarations, {n.text for n, _ in uses}, results))
    diagnostics.extend(signal_diagnostics(declarations.signals, results, declarations.redeclared))

    ordered = tuple(sorted(diagnostics, key=lambda d: d.sort_key))
    if has_errors(ordered) or key.model is None:
        return Analysis(None, ordered)
    model = build_model(
        process,
        key.model,
        declarations,
        _machine_models(machines),
        start if process.of_type(ast.StartOn) else None,
        cancel,
        conditions.complete_when,
        conditions.fail_when,
        conditions.complete_data,
        conditions.fail_data,
    )
    return Analysis(model, ordered)


def _machine_models(machines: Mapping[str, MachineResult]) -> Iterator[MachineModel]:
    for result in machines.values():
        assert result.model is not None, "a machine without errors has a model"
        yield result.model


def _no_machine(process: ast.Process) -> Diagnostic:
    return Diagnostic(
        "PM0306",
        f"process `{process.name.text}` declares no machine",
        process.name.span,
        label="no `machine` declaration",
        help="add a state machine, e.g. `machine Order { states Open, Done ... }`",
    )


def _unused(
    declarations: Declarations, used_events: set[str], machines: Sequence[MachineResult]
) -> Iterator[Diagnostic]:
    for name, event in declarations.events.items():
        if name not in used_events and name not in declarations.redeclared:
            yield Diagnostic(
                "PM0901",
                f"event `{name}` is never used",
                event.decl.name.span,
                label="no transition, `start on` or `cancel on` names it",
                help="use it as a trigger, or remove it",
            )
    tasks_run = {task for m in machines for task in m.tasks_run}
    for name, task in declarations.tasks.items():
        if name not in tasks_run and name not in declarations.redeclared:
            yield Diagnostic(
                "PM0902",
                f"task `{name}` is never run",
                task.decl.name.span,
                label="no transition runs it",
                help=f"run it from a transition (`run {name}(...)`), or remove it",
            )
