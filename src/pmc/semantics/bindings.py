"""``run TASK(FIELD = EXPR, ...)``: the task exists and every field is bound well."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics.declarations import TaskInfo
from pmc.semantics.model import (
    BindingModel,
    EventFieldExpr,
    ExprModel,
    KeyExpr,
    LiteralExpr,
    MachineIdExpr,
    RunModel,
    ValueType,
)
from pmc.semantics.scope import Scope
from pmc.semantics.suggest import did_you_mean
from pmc.semantics.triggers import TriggerInfo, unknown_task
from pmc.semantics.types import (
    STR,
    assignable,
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


def resolve_run(run: ast.RunClause, trigger: TriggerInfo, scope: Scope) -> RunInfo:
    task = scope.declarations.tasks.get(run.task.text)
    if task is None:
        return RunInfo(None, None, (unknown_task(run.task, scope),))
    diagnostics: list[Diagnostic] = []
    bound: dict[str, ast.Binding] = {}
    models: list[BindingModel] = []
    for binding in run.bindings:
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
        found = list(_binding_diagnostics(binding, task, trigger, scope))
        diagnostics.extend(found)
        field = task.fields.get(name)
        field_type = None if field is None else field.type
        value = binding.value
        source = (
            _expr_type(value, trigger, scope)
            if isinstance(value, ast.EventFieldRef | ast.MachineIdRef | ast.KeyRef)
            else None
        )
        models.append(BindingModel(name, _expr_model(value, field_type), source))
    diagnostics.extend(_missing_fields(run, task, bound))
    model = None if diagnostics else RunModel(task.decl.name.text, tuple(models))
    return RunInfo(task.decl.name.text, model, tuple(diagnostics))


def _fields_help(task: TaskInfo) -> str:
    if not task.fields:
        return f"task `{task.decl.name.text}` has no fields"
    listed = ", ".join(f"`{name}`" for name in task.fields)
    return f"task `{task.decl.name.text}` has {listed}"


def _expr_model(expr: ast.Expr, field_type: ValueType | None) -> ExprModel:
    if isinstance(expr, ast.EventFieldRef):
        return EventFieldExpr(expr.field.text)
    if isinstance(expr, ast.MachineIdRef):
        return MachineIdExpr()
    if isinstance(expr, ast.KeyRef):
        return KeyExpr()
    if field_type is None:
        return LiteralExpr(literal_value(expr))
    return LiteralExpr(literal_value_for(expr, field_type))


def _binding_diagnostics(
    binding: ast.Binding, task: TaskInfo, trigger: TriggerInfo, scope: Scope
) -> Iterator[Diagnostic]:
    task_name = task.decl.name.text
    field = task.fields.get(binding.field.text)
    if field is None:
        yield Diagnostic(
            "PM0601",
            f"task `{task_name}` has no field `{binding.field.text}`",
            binding.field.span,
            label=f"not a field of task `{task_name}`",
            help=did_you_mean(binding.field.text, task.fields) or _fields_help(task),
        )
    value = binding.value
    if isinstance(value, ast.EventFieldRef):
        yield from _trigger_field_diagnostics(value, trigger)
    if field is None or field.type is None:
        return
    if isinstance(value, ast.EventFieldRef | ast.MachineIdRef | ast.KeyRef):
        source = _expr_type(value, trigger, scope)
        if source is None:
            return
        matches = assignable(source, field.type)
        described = f"`{type_text(source)}`"
    elif (misfit := float_misfit(value, field.type)) is not None:
        yield Diagnostic(
            "PM0603",
            f"the value bound to `{binding.field.text}` does not fit a float",
            value.span,
            label=misfit[0],
            labels=(Label(field.decl.type.span, "field type declared here"),),
            help=f"{misfit[1]}, or make the task field a `Decimal`",
        )
        return
    else:
        matches = literal_matches(value, field.type)
        described = literal_kind(value)
    if not matches:
        yield Diagnostic(
            "PM0603",
            f"`{binding.field.text}` is `{type_text(field.type)}`, "
            f"but the value bound to it is {described}",
            value.span,
            label=f"expected `{type_text(field.type)}`",
            labels=(Label(field.decl.type.span, "field type declared here"),),
        )


def _expr_type(
    expr: ast.EventFieldRef | ast.MachineIdRef | ast.KeyRef, trigger: TriggerInfo, scope: Scope
) -> ValueType | None:
    """The type of a non-literal expression, or None when unknown (already reported)."""
    if isinstance(expr, ast.MachineIdRef):
        # Always text: a single-instance machine's id is its name.
        return STR
    if isinstance(expr, ast.KeyRef):
        return scope.key_type
    if trigger.fields is None:
        return None
    return trigger.fields.get(expr.field.text)


def _trigger_field_diagnostics(
    ref: ast.EventFieldRef, trigger: TriggerInfo
) -> Iterator[Diagnostic]:
    if trigger.fields is None or ref.field.text in trigger.fields:
        return
    if trigger.is_timer:
        label = "a timer carries no fields"
        help = None
    else:
        label = f"not carried by {trigger.display}"
        available = ", ".join(f"`{name}`" for name in trigger.fields)
        help = did_you_mean(ref.field.text, trigger.fields)
        if help is None and available:
            help = f"{trigger.display} carries {available}"
        elif help is None and trigger.task is not None:
            help = f"task `{trigger.task}` returns nothing; declare a `returns {{ ... }}` block"
    yield Diagnostic(
        "PM0604",
        f"`event.{ref.field.text}` is not present on the trigger {trigger.display}",
        ref.span,
        label=label,
        help=help,
    )


def _missing_fields(
    run: ast.RunClause, task: TaskInfo, bound: dict[str, ast.Binding]
) -> Iterator[Diagnostic]:
    missing = [
        name
        for name, field in task.fields.items()
        if name not in bound and field.decl.default is None
    ]
    if not missing:
        return
    listed = ", ".join(f"`{name}`" for name in missing)
    plural = "s" if len(missing) > 1 else ""
    example = ", ".join(f"{name} = ..." for name in missing)
    yield Diagnostic(
        "PM0602",
        f"`run {task.decl.name.text}` leaves required field{plural} {listed} unbound",
        run.task.span,
        label=f"missing {listed}",
        help=f"bind {'them' if plural else 'it'}: `{task.decl.name.text}({example})`",
    )
