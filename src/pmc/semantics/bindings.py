"""``run TASK(FIELD = EXPR, ...)`` and ``emit SIGNAL(FIELD = EXPR, ...)``.

The task or signal exists and every field is bound well: one binding per
field, every required field bound, each value of the field's type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, Label
from pmc.diagnostics.suggest import did_you_mean
from pmc.semantics.declarations import FieldInfo
from pmc.semantics.expressions import Readable, check_expr, unfit
from pmc.semantics.model import (
    BindingModel,
    EmitModel,
    LiteralExpr,
    RunModel,
    ValueType,
)
from pmc.semantics.scope import Scope
from pmc.semantics.triggers import unknown_task
from pmc.semantics.types import (
    float_misfit,
    literal_kind,
    literal_matches,
    literal_value,
    literal_value_for,
    type_text,
)
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class RunInfo:
    task: str | None  # None: unknown task (already reported)
    model: RunModel | None
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class EmitInfo:
    signal: str | None  # None: unknown signal (already reported)
    model: EmitModel | None
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class _Target:
    """What bindings fill: a task's input (``run``) or a signal's payload (``emit``)."""

    kind: str  # "task" or "signal", for messages
    clause: str  # "run" or "emit"
    name: str
    fields: Mapping[str, FieldInfo]


def resolve_run(run: ast.RunClause, readable: Readable, scope: Scope) -> RunInfo:
    task = scope.declarations.tasks.get(run.task.text)
    if task is None:
        return RunInfo(None, None, (unknown_task(run.task, scope),))
    target = _Target("task", "run", task.decl.name.text, task.fields)
    models, diagnostics = _bindings(target, run.task, run.bindings, readable)
    model = None if diagnostics else RunModel(target.name, models)
    return RunInfo(target.name, model, tuple(diagnostics))


def resolve_emit(emit: ast.EmitClause, readable: Readable, scope: Scope) -> EmitInfo:
    signal = scope.declarations.signals.get(emit.signal.text)
    if signal is None:
        return EmitInfo(None, None, (unknown_signal(emit.signal, scope),))
    target = _Target("signal", "emit", signal.decl.name.text, signal.fields)
    models, diagnostics = _bindings(target, emit.signal, emit.bindings, readable)
    model = None if diagnostics else EmitModel(target.name, models)
    return EmitInfo(target.name, model, tuple(diagnostics))


def unknown_signal(name: ast.Name, scope: Scope) -> Diagnostic:
    kind = scope.declared_kind(name.text)
    help = (
        f"`{name.text}` is {'an' if kind == 'event' else 'a'} {kind}; `emit` raises a signal "
        f"(declare `signal {name.text} {{ ... }}`)"
        if kind is not None
        else did_you_mean(name.text, scope.declarations.signals)
    )
    return Diagnostic(
        "PM0208",
        f"unknown signal `{name.text}`",
        name.span,
        label=f"not declared in process `{scope.process}`",
        help=help,
    )


def _bindings(
    target: _Target, named: ast.Name, bindings: Sequence[ast.Binding], readable: Readable
) -> tuple[tuple[BindingModel, ...], list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    bound: dict[str, ast.Binding] = {}
    models: list[BindingModel] = []
    for binding in bindings:
        name = binding.field.text
        if name in bound:
            diagnostics.append(
                Diagnostic(
                    "PM0104",
                    f"field `{name}` is bound twice",
                    binding.field.span,
                    label="bound again here",
                    labels=(Label(bound[name].field.span, "first bound here"),),
                )
            )
            continue
        bound[name] = binding
        field = target.fields.get(name)
        if field is None:
            diagnostics.append(_unknown_field(binding, target))
        model, found = _binding(binding, target, field, readable)
        diagnostics.extend(found)
        models.append(model)
    diagnostics.extend(_missing_fields(target, named, bound))
    return tuple(models), diagnostics


def _binding(
    binding: ast.Binding, target: _Target, field: FieldInfo | None, readable: Readable
) -> tuple[BindingModel, list[Diagnostic]]:
    name = binding.field.text
    value = binding.value
    field_type = None if field is None else field.type
    if isinstance(value, ast.Literal):
        model = LiteralExpr(
            literal_value(value) if field_type is None else literal_value_for(value, field_type)
        )
        found = [] if field is None else list(_literal_diagnostics(binding, value, target, field))
        return BindingModel(name, model), found
    checked = check_expr(value, readable, expect=field_type)
    found = list(checked.diagnostics)
    described = None if field is None else unfit(checked, field.type)
    if field is not None and field.type is not None and described is not None:
        found.append(_mismatch(binding, field, field.type, described))
    return BindingModel(name, checked.model, checked.value_type), found


def _literal_diagnostics(
    binding: ast.Binding, value: ast.Literal, target: _Target, field: FieldInfo
) -> Iterator[Diagnostic]:
    if field.type is None:
        return
    misfit = float_misfit(value, field.type)
    if misfit is not None:
        yield Diagnostic(
            "PM0603",
            f"the value bound to `{binding.field.text}` does not fit a float",
            value.span,
            label=misfit[0],
            labels=(Label(field.decl.type.span, "field type declared here"),),
            help=f"{misfit[1]}, or make the {target.kind} field a `Decimal`",
        )
    elif not literal_matches(value, field.type):
        yield _mismatch(binding, field, field.type, literal_kind(value))


def _mismatch(
    binding: ast.Binding, field: FieldInfo, field_type: ValueType, described: str
) -> Diagnostic:
    return Diagnostic(
        "PM0603",
        f"`{binding.field.text}` is `{type_text(field_type)}`, "
        f"but the value bound to it is {described}",
        binding.value.span,
        label=f"expected `{type_text(field_type)}`",
        labels=(Label(field.decl.type.span, "field type declared here"),),
    )


def _unknown_field(binding: ast.Binding, target: _Target) -> Diagnostic:
    what = f"{target.kind} `{target.name}`"
    fields_help = (
        f"{what} has " + ", ".join(f"`{name}`" for name in target.fields)
        if target.fields
        else f"{what} has no fields"
    )
    return Diagnostic(
        "PM0601",
        f"{what} has no field `{binding.field.text}`",
        binding.field.span,
        label=f"not a field of {what}",
        help=did_you_mean(binding.field.text, target.fields) or fields_help,
    )


def _missing_fields(
    target: _Target, named: ast.Name, bound: Mapping[str, ast.Binding]
) -> Iterator[Diagnostic]:
    missing = [
        name
        for name, field in target.fields.items()
        if name not in bound and field.decl.default is None
    ]
    if not missing:
        return
    listed = ", ".join(f"`{name}`" for name in missing)
    plural = "s" if len(missing) > 1 else ""
    example = ", ".join(f"{name} = ..." for name in missing)
    yield Diagnostic(
        "PM0602",
        f"`{target.clause} {target.name}` leaves required field{plural} {listed} unbound",
        named.span,
        label=f"missing {listed}",
        help=f"bind {'them' if plural else 'it'}: `{target.name}({example})`",
    )
