"""A machine's transitions: sources, target, trigger and clauses, resolved."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics.bindings import EmitInfo, RunInfo, resolve_emit, resolve_run
from pmc.semantics.declarations import FieldInfo, identifier_diagnostics
from pmc.semantics.expressions import (
    Readable,
    check_expr,
    data_field_type,
    not_bool,
    unfit,
)
from pmc.semantics.model import (
    AssignmentModel,
    DataScope,
    DeadlineTriggerModel,
    ExprModel,
    ListType,
    LiteralExpr,
    OptionalType,
    Primitive,
    PrimitiveType,
    SelectorTriggerModel,
    SignalTriggerModel,
    ValueType,
)
from pmc.semantics.scope import Scope
from pmc.semantics.states import StateTable
from pmc.semantics.triggers import TriggerInfo, resolve_trigger, unknown_task
from pmc.semantics.types import (
    float_misfit,
    literal_kind,
    literal_matches,
    literal_value,
    literal_value_for,
    type_text,
)
from pmc.source import Span
from pmc.syntax import ast

DATETIME = PrimitiveType(Primitive.DATETIME)


@dataclass(frozen=True, slots=True)
class TransitionInfo:
    decl: ast.Transition
    explicit: tuple[str, ...]  # declared explicit sources, in order
    target: str | None  # None: unknown (already reported)
    trigger: TriggerInfo
    run: RunInfo | None
    resolved: bool  # every state it names is declared
    guard: ExprModel | None = None
    keep: tuple[str, ...] = ()  # the declared tasks it keeps, deduplicated
    sets: tuple[AssignmentModel, ...] = ()
    emits: tuple[EmitInfo, ...] = ()

    @property
    def outcome_task(self) -> str | None:
        if isinstance(self.decl.trigger, ast.OutcomeTrigger):
            return self.trigger.task
        return None

    @property
    def guarded(self) -> bool:
        return self.decl.guard is not None

    @property
    def modelled(self) -> bool:
        """Whether trigger, run and emits resolved to their models."""
        run_ok = self.run is None or self.run.model is not None
        emits_ok = all(e.model is not None for e in self.emits)
        return self.trigger.model is not None and run_ok and emits_ok

    @property
    def runs(self) -> str | None:
        return None if self.run is None else self.run.task

    @property
    def handles(self) -> str | None:
        """The signal this transition is triggered by, if any."""
        return None if self.trigger.signal is None else self.trigger.signal.text


def resolve_transition(
    transition: ast.Transition,
    table: StateTable,
    scope: Scope,
    instance: Mapping[str, FieldInfo] | None,
) -> tuple[TransitionInfo, list[Diagnostic]]:
    """Resolve one transition; ``instance`` is its machine's data (None: it declares none)."""
    found = list(identifier_diagnostics(transition.name, "transition"))
    explicit: list[str] = []
    resolved = bool(table.declared)
    finals = frozenset(table.finals)
    for source in transition.sources:
        if isinstance(source, ast.Wildcard) or not table.declared:
            continue
        if source.text not in table.declared:
            found.append(table.unknown(source))
            resolved = False
        else:
            explicit.append(source.text)
            if source.text in finals:
                found.append(_leaves_final(transition, source))
    target: str | None = None
    if table.declared:
        if transition.target.text in table.declared:
            target = transition.target.text
        else:
            found.append(table.unknown(transition.target))
            resolved = False
    readable = Readable(
        scope.process, scope.declarations.data, scope.key_type, table.machine, instance
    )
    if isinstance(transition.trigger, ast.DeadlineTrigger):
        trigger = _deadline_trigger(transition.trigger, readable)
    else:
        trigger = resolve_trigger(transition.trigger, scope)
    found.extend(trigger.diagnostics)
    readable = replace(readable, trigger=trigger)
    guard = None
    if transition.guard is not None:
        checked = check_expr(transition.guard.condition, readable)
        found.extend(checked.diagnostics)
        found.extend(not_bool(transition.guard.condition, checked, "the guard"))
        guard = checked.model
    keep = _kept_tasks(transition.keep, scope, found)
    run = None
    if transition.run is not None:
        run = resolve_run(transition.run, readable, scope)
        found.extend(run.diagnostics)
    sets: tuple[AssignmentModel, ...] = ()
    if transition.set is not None:
        sets = _assignments(transition.set, readable, found)
    emits = tuple(resolve_emit(emit, readable, scope) for emit in transition.emits)
    for emit in emits:
        found.extend(emit.diagnostics)
    info = TransitionInfo(
        transition,
        tuple(dict.fromkeys(explicit)),
        target,
        trigger,
        run,
        resolved,
        guard,
        keep,
        sets,
        emits,
    )
    return info, found


def _kept_tasks(
    clause: ast.KeepClause | None, scope: Scope, found: list[Diagnostic]
) -> tuple[str, ...]:
    if clause is None:
        return ()
    kept: dict[str, None] = {}
    for name in clause.tasks:
        if name.text in scope.declarations.tasks:
            kept.setdefault(name.text)
        else:
            found.append(unknown_task(name, scope))
    return tuple(kept)


def _deadline_trigger(trigger: ast.DeadlineTrigger, readable: Readable) -> TriggerInfo:
    """``on at data.F``: a timer due at the instant ``F`` holds (`none`: no timer)."""
    ref = trigger.field
    identity = ("deadline", ref.scope.value, ref.field.text)
    display = f"`at {ref.scope.value}.{ref.field.text}`"
    value_type, problem = data_field_type(ref, readable)
    if problem is not None:
        return TriggerInfo(identity, display, fields={}, is_timer=True, diagnostics=(problem,))
    if value_type is not None and value_type not in (DATETIME, OptionalType(DATETIME)):
        fields = readable.data if ref.scope is ast.DataScope.DATA else readable.instance
        assert fields is not None
        wrong = Diagnostic(
            "PM0509",
            f"the deadline `{ref.scope.value}.{ref.field.text}` is `{type_text(value_type)}`, "
            "not a `datetime`",
            ref.span,
            label=f"`{type_text(value_type)}`",
            labels=(Label(fields[ref.field.text].decl.type.span, "declared here"),),
            help="a deadline is a `datetime`, or a `datetime | None` (none: no timer)",
        )
        return TriggerInfo(identity, display, fields={}, is_timer=True, diagnostics=(wrong,))
    model = None
    if value_type is not None:
        model = DeadlineTriggerModel(DataScope(ref.scope.value), ref.field.text)
    return TriggerInfo(identity, display, model, {}, is_timer=True)


def _assignments(
    clause: ast.SetClause, readable: Readable, found: list[Diagnostic]
) -> tuple[AssignmentModel, ...]:
    """``set A, B``: each data field at most once, each value of its field's type."""
    first: dict[tuple[ast.DataScope, str], ast.Assignment] = {}
    models: list[AssignmentModel] = []
    for assignment in clause.assignments:
        ref = assignment.target
        written = f"{ref.scope.value}.{ref.field.text}"
        earlier = first.setdefault((ref.scope, ref.field.text), assignment)
        if earlier is not assignment:
            found.append(
                Diagnostic(
                    "PM0107",
                    f"`{written}` is assigned twice in one `set`",
                    ref.span,
                    label="assigned again here",
                    labels=(Label(earlier.target.span, "first assigned here"),),
                    help="assignments of one `set` happen at once: keep one of them",
                )
            )
            continue
        target_type, problem = data_field_type(ref, readable)
        if problem is not None:
            found.append(problem)
        value = assignment.value
        if isinstance(value, ast.Literal):
            model: ExprModel = LiteralExpr(
                literal_value(value)
                if target_type is None
                else literal_value_for(value, target_type)
            )
            source = None
            if target_type is not None:
                found.extend(_literal_misfit(written, value, target_type, ref, readable))
        else:
            checked = check_expr(value, readable, expect=target_type)
            found.extend(checked.diagnostics)
            model, source = checked.model, checked.value_type
            described = unfit(checked, target_type)
            if target_type is not None and described is not None:
                found.append(_misfit(written, target_type, described, value, ref, readable))
        models.append(AssignmentModel(DataScope(ref.scope.value), ref.field.text, model, source))
    return tuple(models)


def _declared_type_span(ref: ast.DataFieldRef, readable: Readable) -> Span:
    fields = readable.data if ref.scope is ast.DataScope.DATA else readable.instance
    assert fields is not None
    return fields[ref.field.text].decl.type.span


def _literal_misfit(
    written: str,
    value: ast.Literal,
    target: ValueType,
    ref: ast.DataFieldRef,
    readable: Readable,
) -> Iterator[Diagnostic]:
    misfit = float_misfit(value, target)
    if misfit is not None:
        yield Diagnostic(
            "PM0508",
            f"the value assigned to `{written}` does not fit a float",
            value.span,
            label=misfit[0],
            labels=(Label(_declared_type_span(ref, readable), "field type declared here"),),
            help=f"{misfit[1]}, or make the data field a `Decimal`",
        )
    elif not literal_matches(value, target):
        yield _misfit(written, target, literal_kind(value), value, ref, readable)


def _misfit(
    written: str,
    target: ValueType,
    described: str,
    value: ast.Expr,
    ref: ast.DataFieldRef,
    readable: Readable,
) -> Diagnostic:
    help = None
    if isinstance(target, PrimitiveType) and described.endswith(" | None`"):
        help = (
            "a value that may be none does not fit a field that may not: declare "
            f"`{written}` as `{type_text(target)} | None`, or assign a value that is never none"
        )
    return Diagnostic(
        "PM0508",
        f"`{written}` is `{type_text(target)}`, but the value assigned to it is {described}",
        value.span,
        label=f"expected `{type_text(target)}`",
        labels=(Label(_declared_type_span(ref, readable), "field type declared here"),),
        help=help,
    )


def _leaves_final(transition: ast.Transition, source: ast.Name) -> Diagnostic:
    return Diagnostic(
        "PM0303",
        f"transition `{transition.name.text}` leaves final state `{source.text}`",
        source.span,
        label=f"`{source.text}` is final",
        help=f"an instance in a final state is done; remove `{source.text}` from the sources "
        "or from `final`",
    )


def selector_and_broadcast(machine: ast.MachineDecl, scope: Scope) -> Iterator[Diagnostic]:
    """PM0407: one event or signal cannot both select a machine's instances and broadcast.

    Its route would have to be either the ids in its field (which may create
    instances) or every existing instance (which never does).
    """
    plain: dict[str, ast.EventTrigger] = {}
    for transition in machine.transitions:
        if isinstance(transition.trigger, ast.EventTrigger):
            plain.setdefault(transition.trigger.event.text, transition.trigger)
    reported: set[str] = set()
    for transition in machine.transitions:
        trigger = transition.trigger
        if not isinstance(trigger, ast.SelectorTrigger):
            continue
        event = trigger.event.text
        if event not in plain or event in reported:
            continue
        reported.add(event)
        kind = "signal" if scope.declared_kind(event) == "signal" else "event"
        yield Diagnostic(
            "PM0407",
            f"machine `{machine.name.text}` uses `{event}` both with and without a selector",
            trigger.span,
            label=f"selects instances by `{trigger.field.text}`",
            labels=(Label(plain[event].span, "addresses every existing instance"),),
            help=f"use `{event}.{trigger.field.text}` on every transition of this machine on "
            f"`{event}`, or declare another {kind} for the broadcast",
        )


def mixed_selector_types(
    machine: ast.MachineDecl, transitions: Sequence[TransitionInfo]
) -> Iterator[Diagnostic]:
    """PM0501: every selector of one machine must carry ids of one type.

    The runtime compares instance ids as text, so `1` from an `int` field and
    `"1"` from a `str` field would select the same instance.
    """
    first: tuple[ast.SelectorTrigger, ValueType] | None = None
    for transition in transitions:
        trigger = transition.decl.trigger
        selector = _selector_id_type(transition)
        if not isinstance(trigger, ast.SelectorTrigger) or selector is None:
            continue
        if first is None:
            first = (trigger, selector)
            continue
        first_trigger, first_type = first
        if selector == first_type:
            continue
        yield Diagnostic(
            "PM0501",
            f"instances of `{machine.name.text}` are selected by "
            f"`{_selector_text(first_trigger)}` of type {type_text(first_type)} and "
            f"`{_selector_text(trigger)}` of type {type_text(selector)}; use one type",
            trigger.field.span,
            label=f"ids of type `{type_text(selector)}`",
            labels=(Label(first_trigger.field.span, f"ids of type `{type_text(first_type)}`"),),
            help="instance ids are compared as text: ids of two types could name the same "
            'instance (`1` and `"1"`); declare both fields with the same id type',
        )


def _selector_id_type(transition: TransitionInfo) -> ValueType | None:
    """The type of one instance id a resolved selector trigger carries (a list's item type)."""
    trigger = transition.decl.trigger
    model = transition.trigger.model
    fields = transition.trigger.fields
    selects = isinstance(model, SelectorTriggerModel) or (
        isinstance(model, SignalTriggerModel) and model.field is not None
    )
    if not isinstance(trigger, ast.SelectorTrigger) or not selects:
        return None
    value_type = None if fields is None else fields.get(trigger.field.text)
    return value_type.item if isinstance(value_type, ListType) else value_type


def _selector_text(trigger: ast.SelectorTrigger) -> str:
    return f"{trigger.event.text}.{trigger.field.text}"
