"""Process-level tables: events, tasks and machines, with their fields and names checked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from pmc.diagnostics import Diagnostic, Label
from pmc.naming import ambiguous_name_reason, invalid_identifier_reason
from pmc.semantics.model import (
    DictType,
    FieldModel,
    ListType,
    OptionalType,
    Primitive,
    PrimitiveType,
    RetryDelayKind,
    RetryPolicy,
    TaskMode,
    ValueType,
)
from pmc.semantics.types import (
    float_misfit,
    literal_kind,
    literal_matches,
    literal_value_for,
    resolve_type,
    type_text,
)
from pmc.source import Span
from pmc.syntax import ast

# Types the generated models annotate fields with: a field named like one
# would be found instead of the type when pydantic resolves a later annotation
# (``str: str = "a"`` then ``name: str``), so such names are rejected.
TYPE_NAMES = frozenset({*(p.value for p in Primitive), "list", "dict", "None"})

# Public attributes of pydantic's ``BaseModel`` (v2, besides ``model_*``): a
# field with one of these names would shadow a method, which pydantic warns
# about and mypy rejects in the generated module.
PYDANTIC_ATTRIBUTES = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "from_orm",
        "json",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    decl: ast.Field
    model: FieldModel | None  # None: the type did not resolve (already reported)

    @property
    def name(self) -> str:
        return self.decl.name.text

    @property
    def type(self) -> ValueType | None:
        return None if self.model is None else self.model.type


@dataclass(frozen=True, slots=True)
class EventInfo:
    """An input event, or a signal (an event internal to the process)."""

    decl: ast.EventDecl | ast.SignalDecl
    fields: Mapping[str, FieldInfo]  # first declaration of each name, in source order
    # What `event.FIELD` may read when this event is the trigger; None: unresolved type.
    field_types: Mapping[str, ValueType | None]


@dataclass(frozen=True, slots=True)
class TaskInfo:
    decl: ast.TaskDecl
    mode: TaskMode
    fields: Mapping[str, FieldInfo]
    returns: Mapping[str, FieldInfo]
    retry: RetryPolicy | None
    timeout_ms: int | None
    returns_types: Mapping[str, ValueType | None]  # what `T completed` carries


@dataclass(frozen=True, slots=True)
class Declarations:
    """First declaration of each name; duplicates are reported, not kept."""

    events: Mapping[str, EventInfo]
    tasks: Mapping[str, TaskInfo]
    machines: Mapping[str, ast.MachineDecl]
    diagnostics: tuple[Diagnostic, ...]
    signals: Mapping[str, EventInfo]
    data: Mapping[str, FieldInfo]  # the process's record; every model has its default
    # Names declared more than once (PM0101): not also reported as unused,
    # since which declaration a use meant is the user's to decide.
    redeclared: frozenset[str] = frozenset()


def collect_declarations(process: ast.Process) -> Declarations:
    diagnostics: list[Diagnostic] = []
    diagnostics.extend(identifier_diagnostics(process.name, "process"))
    diagnostics.extend(_duplicate_declarations(process))
    events: dict[str, EventInfo] = {}
    for event in process.events:
        info, found = _event_info(event, "event")
        diagnostics.extend(found)
        events.setdefault(event.name.text, info)
    signals: dict[str, EventInfo] = {}
    for signal in process.signals:
        info, found = _event_info(signal, "signal")
        diagnostics.extend(found)
        signals.setdefault(signal.name.text, info)
    data, found = collect_data(process.data_blocks, f"process `{process.name.text}`")
    diagnostics.extend(found)
    tasks: dict[str, TaskInfo] = {}
    for task in process.tasks:
        task_info, found = _task_info(task)
        diagnostics.extend(found)
        tasks.setdefault(task.name.text, task_info)
    machines: dict[str, ast.MachineDecl] = {}
    for machine in process.machines:
        diagnostics.extend(identifier_diagnostics(machine.name, "machine"))
        machines.setdefault(machine.name.text, machine)
    redeclared = _redeclared(process)
    return Declarations(events, tasks, machines, tuple(diagnostics), signals, data, redeclared)


_KIND = {
    ast.EventDecl: "an event",
    ast.TaskDecl: "a task",
    ast.MachineDecl: "a machine",
    ast.SignalDecl: "a signal",
}
_Named = ast.EventDecl | ast.TaskDecl | ast.MachineDecl | ast.SignalDecl


def _redeclared(process: ast.Process) -> frozenset[str]:
    counts = Counter(d.name.text for d in process.declarations if isinstance(d, _Named))
    return frozenset(name for name, count in counts.items() if count > 1)


def _duplicate_declarations(process: ast.Process) -> Iterator[Diagnostic]:
    """Events, tasks, machines and signals share one namespace: triggers name them all."""
    first: dict[str, _Named] = {}
    signals = bool(process.signals)
    for decl in process.declarations:
        if not isinstance(decl, _Named):
            continue
        name = decl.name.text
        earlier = first.setdefault(name, decl)
        if earlier is decl:
            continue
        yield Diagnostic(
            "PM0101",
            f"`{name}` is declared more than once",
            decl.name.span,
            label=f"declared again here, as {_KIND[type(decl)]}",
            labels=(Label(earlier.name.span, f"first declared here, as {_KIND[type(earlier)]}"),),
            notes=(
                "events, tasks, machines and signals share one namespace"
                if signals
                else "events, tasks and machines share one namespace",
            ),
        )


# The kinds of name that are Python names in the generated module as written
# (a class, an enum member), not only part of one (`<Machine>State`) or a string.
_NAMED_AS_WRITTEN = frozenset({"process", "event", "task", "state", "signal"})


def identifier_diagnostics(name: ast.Name, kind: str) -> Iterator[Diagnostic]:
    """PM0105 when ``name`` cannot become a Python identifier in the generated module."""
    reason = invalid_identifier_reason(name.text)
    if reason is None and kind in _NAMED_AS_WRITTEN:
        reason = ambiguous_name_reason(name.text)
    if reason is not None:
        yield Diagnostic(
            "PM0105",
            f"invalid {kind} name `{name.text}`",
            name.span,
            label=reason,
            help=f"rename the {kind}; names are never changed silently",
        )


def field_name_diagnostics(name: ast.Name) -> Iterator[Diagnostic]:
    """Field names become pydantic model attributes: Python's rules and pydantic's."""
    reason = invalid_identifier_reason(name.text) or ambiguous_name_reason(name.text)
    if reason is None and name.text.startswith("model_"):
        reason = "starts with `model_`, which pydantic reserves"
    if reason is None and name.text in PYDANTIC_ATTRIBUTES:
        reason = "is a method of pydantic models"
    if reason is None and name.text in TYPE_NAMES:
        reason = f"would shadow the type `{name.text}` inside the generated model"
    if reason is not None:
        yield Diagnostic(
            "PM0105",
            f"invalid field name `{name.text}`",
            name.span,
            label=reason,
            help="rename the field; names are never changed silently",
        )


def collect_fields(
    fields: Iterable[ast.Field], owner: str
) -> tuple[dict[str, FieldInfo], list[Diagnostic]]:
    """Fields by name (first wins) with duplicate, name, type and default checks."""
    table: dict[str, FieldInfo] = {}
    diagnostics: list[Diagnostic] = []
    for field in fields:
        name = field.name.text
        diagnostics.extend(field_name_diagnostics(field.name))
        resolved = resolve_type(field.type)
        diagnostics.extend(resolved.diagnostics)
        model = None
        if resolved.type is not None:
            diagnostics.extend(_default_diagnostics(field, resolved.type))
            model = _field_model(field, resolved.type)
        if name in table:
            diagnostics.append(
                Diagnostic(
                    "PM0104",
                    f"duplicate field `{name}` in {owner}",
                    field.name.span,
                    label="declared again here",
                    labels=(Label(table[name].decl.name.span, "first declared here"),),
                )
            )
            continue
        table[name] = FieldInfo(field, model)
    return table, diagnostics


def field_models(fields: Mapping[str, FieldInfo]) -> tuple[FieldModel, ...]:
    """The models of fields that all resolved (the caller knows no error stands)."""
    models = tuple(f.model for f in fields.values())
    assert all(m is not None for m in models), "built with an unresolved field"
    return tuple(m for m in models if m is not None)


def field_types(fields: Mapping[str, FieldInfo]) -> dict[str, ValueType | None]:
    return {name: info.type for name, info in fields.items()}


def _field_model(field: ast.Field, value_type: ValueType) -> FieldModel:
    default = None if field.default is None else literal_value_for(field.default, value_type)
    return FieldModel(
        field.name.text,
        value_type,
        has_default=field.default is not None,
        default=default,
        span=field.span,
        type_span=field.type.span,
    )


def _default_diagnostics(field: ast.Field, value_type: ValueType) -> Iterator[Diagnostic]:
    default = field.default
    if default is None:
        return
    misfit = float_misfit(default, value_type)
    if misfit is not None:
        yield Diagnostic(
            "PM0504",
            f"default for `{field.name.text}` does not fit a float",
            default.span,
            label=misfit[0],
            labels=(Label(field.type.span, "field type declared here"),),
            help=f"{misfit[1]}, or make the field a `Decimal`",
        )
        return
    if literal_matches(default, value_type):
        return
    help = None
    if isinstance(default, ast.NoneLiteral):
        help = f"make the field optional: `{field.name.text}: {type_text(value_type)} | None`"
    yield Diagnostic(
        "PM0504",
        f"default for `{field.name.text}` is {literal_kind(default)}, "
        f"but the field is `{type_text(value_type)}`",
        default.span,
        label=f"not a `{type_text(value_type)}`",
        labels=(Label(field.type.span, "field type declared here"),),
        help=help,
    )


def _event_info(
    event: ast.EventDecl | ast.SignalDecl, kind: str
) -> tuple[EventInfo, list[Diagnostic]]:
    diagnostics = list(identifier_diagnostics(event.name, kind))
    fields, found = collect_fields(event.fields, f"{kind} `{event.name.text}`")
    diagnostics.extend(found)
    return EventInfo(event, fields, field_types(fields)), diagnostics


# ---- data --------------------------------------------------------------------------


def collect_data(
    blocks: Sequence[ast.DataDecl], owner: str
) -> tuple[dict[str, FieldInfo], list[Diagnostic]]:
    """The fields of the first ``data`` block, each with its default filled in.

    ``T | None`` without a default starts as none, a list or dict as empty
    (its model keeps ``default=None``: codegen writes an empty factory);
    any other field needs a default (PM0310). Later blocks are reported
    (PM0106) and their fields checked all the same.
    """
    diagnostics = list(duplicate_clauses(blocks, f"`data` block in {owner}"))
    table: dict[str, FieldInfo] = {}
    for index, block in enumerate(blocks):
        fields, found = collect_fields(block.fields, f"the `data` of {owner}")
        diagnostics.extend(found)
        for name, info in fields.items():
            model = info.model
            if model is None or model.has_default:
                continue
            if isinstance(model.type, OptionalType | ListType | DictType):
                fields[name] = FieldInfo(info.decl, replace(model, has_default=True))
            else:
                diagnostics.append(_no_default(info.decl, model.type))
        if index == 0:
            table = fields
    return table, diagnostics


# A literal that reads as "nothing yet" for the types that have literals.
_EXAMPLE_DEFAULTS = {
    Primitive.STR: '""',
    Primitive.INT: "0",
    Primitive.FLOAT: "0.0",
    Primitive.DECIMAL: "0",
    Primitive.BOOL: "false",
}


def _no_default(field: ast.Field, value_type: ValueType) -> Diagnostic:
    name = field.name.text
    optional = f"`{name}: {type_text(value_type)} | None`"
    example = (
        _EXAMPLE_DEFAULTS.get(value_type.primitive)
        if isinstance(value_type, PrimitiveType)
        else None
    )
    help = f"make it optional: {optional} starts as `none`"
    if example is not None:
        help = f"give it a default (`{name}: {type_text(value_type)} = {example}`), or {help}"
    return Diagnostic(
        "PM0310",
        f"data field `{name}` has no default",
        field.span,
        label=f"`{type_text(value_type)}` without a default",
        notes=("a new process or machine instance starts with every data field's default",),
        help=help,
    )


# ---- tasks ------------------------------------------------------------------------


def _task_info(task: ast.TaskDecl) -> tuple[TaskInfo, list[Diagnostic]]:
    name = task.name.text
    diagnostics = list(identifier_diagnostics(task.name, "task"))
    fields, found = collect_fields(task.fields, f"task `{name}`")
    diagnostics.extend(found)
    returns: dict[str, FieldInfo] = {}
    for index, clause in enumerate(task.returns):
        clause_fields, found = collect_fields(clause.fields, f"the result of `{name}`")
        diagnostics.extend(found)
        if index == 0:
            returns = clause_fields
    for kind, clauses in (
        ("returns", task.returns),
        ("retry", task.retries),
        ("timeout", task.timeouts),
    ):
        diagnostics.extend(duplicate_clauses(clauses, f"`{kind}` clause in task `{name}`"))
    for retry in task.retries:
        diagnostics.extend(retry_diagnostics(retry))
    for timeout in task.timeouts:
        diagnostics.extend(positive_duration(timeout.duration, "a timeout"))
    retry_policy = retry_model(task.retries[0]) if task.retries else None
    timeout_ms = task.timeouts[0].duration.milliseconds if task.timeouts else None
    # The language's default mode is async: a task runs in the worker pool.
    mode = TaskMode.SYNC if task.mode is ast.TaskMode.SYNC else TaskMode.ASYNC
    info = TaskInfo(task, mode, fields, returns, retry_policy, timeout_ms, field_types(returns))
    return info, diagnostics


class HasSpan(Protocol):
    @property
    def span(self) -> Span: ...


def duplicate_clauses(clauses: Sequence[HasSpan], what: str) -> Iterator[Diagnostic]:
    """PM0106 for every repetition of a clause that may be written once."""
    for clause in clauses[1:]:
        yield Diagnostic(
            "PM0106",
            f"duplicate {what}",
            clause.span,
            label="written again here",
            labels=(Label(clauses[0].span, "first written here"),),
            help="keep one of them",
        )


def positive_duration(duration: ast.Duration, what: str) -> Iterator[Diagnostic]:
    if duration.milliseconds == 0:
        yield Diagnostic(
            "PM0307",
            f"{what} must be longer than zero",
            duration.span,
            label="zero duration",
        )


def retry_diagnostics(retry: ast.RetryClause) -> Iterator[Diagnostic]:
    if retry.retries < 0:
        yield Diagnostic(
            "PM0307",
            "the retry count must not be negative",
            retry.retries_span,
            label="negative",
            help="`retry 0` (or no `retry` clause) means a failed attempt is final",
        )
    if retry.delay is not None:
        yield from positive_duration(retry.delay.duration, f"a `{retry.delay.kind}` delay")
    if retry.max_delay is None:
        return
    if retry.delay is None:
        yield Diagnostic(
            "PM0307",
            "`max` needs a `backoff` or `every` delay to limit",
            retry.max_delay.span,
            label="no delay to limit",
            help=f"for example `retry {retry.retries} backoff 1s max {retry.max_delay.text}`",
        )
    elif retry.max_delay.milliseconds < retry.delay.duration.milliseconds:
        yield Diagnostic(
            "PM0307",
            f"`max {retry.max_delay.text}` is shorter than the delay "
            f"`{retry.delay.kind} {retry.delay.duration.text}`",
            retry.max_delay.span,
            label="shorter than the delay",
            labels=(Label(retry.delay.duration.span, "the delay"),),
        )


def retry_model(retry: ast.RetryClause) -> RetryPolicy:
    max_ms = None if retry.max_delay is None else retry.max_delay.milliseconds
    if retry.delay is None:
        return RetryPolicy(retry.retries, RetryDelayKind.NONE, 0, max_ms)
    kind = RetryDelayKind(retry.delay.kind.value)
    return RetryPolicy(retry.retries, kind, retry.delay.duration.milliseconds, max_ms)
