"""Process-level clauses: the key, ``start on``, ``cancel on``, ``complete when``, ``fail when``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, Label
from pmc.diagnostics.suggest import did_you_mean
from pmc.semantics.declarations import Declarations, FieldInfo, duplicate_clauses
from pmc.semantics.expressions import Readable, check_expr, not_bool
from pmc.semantics.machines import MachineResult
from pmc.semantics.model import (
    AllFinalCondition,
    AllInCondition,
    AnyInCondition,
    ExprModel,
    KeyModel,
    PrimitiveType,
)
from pmc.semantics.scope import Scope
from pmc.semantics.triggers import unknown_event
from pmc.semantics.types import STR, is_key_type, type_text
from pmc.syntax import ast

# ---- the key --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyInfo:
    field: str | None  # None: no `key` clause (already reported)
    model: KeyModel | None  # None: no usable key type
    diagnostics: tuple[Diagnostic, ...]


def resolve_key(process: ast.Process, declarations: Declarations) -> KeyInfo:
    keys = process.keys
    found = list(duplicate_clauses(keys, "`key` clause"))
    if not keys:
        found.append(_missing_key(process, declarations))
        return KeyInfo(None, None, tuple(found))
    field = keys[0].field.text
    # Only events that are routed by the key must agree on its type; an unused
    # event is reported as unused (PM0901), not for its fields.
    routed = routed_event_names(process)
    carriers = [
        (event.decl, event.fields[field])
        for name, event in declarations.events.items()
        if name in routed and field in event.fields and event.fields[field].type is not None
    ]
    valid = [(decl, info) for decl, info in carriers if _is_key(info)]
    found.extend(
        _invalid_key_type(field, decl, info) for decl, info in carriers if not _is_key(info)
    )
    if valid:
        reference = valid[0]
        found.extend(
            _key_type_mismatch(field, decl, info, reference)
            for decl, info in valid[1:]
            if info.type != reference[1].type
        )
    if len(valid) < len(carriers):
        return KeyInfo(field, None, tuple(found))
    # With no event carrying the key (each use is then reported), `str` is the
    # natural reading of an identifier.
    key_type = valid[0][1].type if valid else STR
    assert isinstance(key_type, PrimitiveType)
    return KeyInfo(field, KeyModel(field, key_type, keys[0].field.span), tuple(found))


def _is_key(info: FieldInfo) -> bool:
    return info.type is not None and is_key_type(info.type)


def _invalid_key_type(
    field: str, event: ast.EventDecl | ast.SignalDecl, info: FieldInfo
) -> Diagnostic:
    assert info.type is not None
    return Diagnostic(
        "PM0503",
        f"key field `{field}` of event `{event.name.text}` is `{type_text(info.type)}`",
        info.decl.type.span,
        label="not a valid key type",
        help="a key must be `str`, `int` or `UUID`: its value names the stream",
    )


def _key_type_mismatch(
    field: str,
    event: ast.EventDecl | ast.SignalDecl,
    info: FieldInfo,
    reference: tuple[ast.EventDecl | ast.SignalDecl, FieldInfo],
) -> Diagnostic:
    assert info.type is not None and reference[1].type is not None
    expected = type_text(reference[1].type)
    return Diagnostic(
        "PM0503",
        f"key field `{field}` is `{type_text(info.type)}` in event `{event.name.text}` "
        f"but `{expected}` in event `{reference[0].name.text}`",
        info.decl.type.span,
        label=f"expected `{expected}`",
        labels=(Label(reference[1].decl.type.span, "the key's type is set here"),),
        help="every event must carry the key with the same type",
    )


def routed_event_names(process: ast.Process) -> frozenset[str]:
    """Events named by a trigger, `start on` or `cancel on`: those the key routes."""
    names = {
        t.trigger.event.text
        for machine in process.machines
        for t in machine.transitions
        if isinstance(t.trigger, ast.EventTrigger | ast.SelectorTrigger)
    }
    lists: list[ast.StartOn | ast.CancelOn] = [*process.of_type(ast.StartOn)]
    lists += process.of_type(ast.CancelOn)
    for clause in lists:
        names.update(n.text for n in clause.events)
    return frozenset(names)


def _missing_key(process: ast.Process, declarations: Declarations) -> Diagnostic:
    common: list[str] | None = None
    for event in declarations.events.values():
        names = [n for n, f in event.fields.items() if f.type is not None and is_key_type(f.type)]
        common = names if common is None else [n for n in common if n in names]
    example = common[0] if common else "order_id"
    return Diagnostic(
        "PM0304",
        f"process `{process.name.text}` declares no `key`",
        process.name.span,
        label="no `key` clause",
        help=f"name the event field that identifies a process instance, e.g. `key {example}`",
    )


def key_field_diagnostics(
    key: KeyInfo, uses: Iterable[tuple[ast.Name, str]], declarations: Declarations
) -> Iterator[Diagnostic]:
    """PM0502 once per event that is used where the key is read but lacks the key field."""
    if key.field is None:
        return
    reported: set[str] = set()
    key_type = "str" if key.model is None else type_text(key.model.type)
    for name, role in uses:
        event = declarations.events.get(name.text)
        if event is None or key.field in event.fields or name.text in reported:
            continue
        reported.add(name.text)
        yield Diagnostic(
            "PM0502",
            f"event `{name.text}` lacks the key field `{key.field}`",
            event.decl.name.span,
            label=f"has no field `{key.field}`",
            labels=(Label(name.span, role),),
            help=f"add `{key.field}: {key_type}` to event `{name.text}`",
            notes=("the key's value names the process instance an event belongs to",),
        )


# ---- start on / cancel on ------------------------------------------------------------------


def event_list(
    clauses: Sequence[ast.StartOn | ast.CancelOn], scope: Scope
) -> tuple[tuple[ast.Name, ...], list[Diagnostic]]:
    """The known events the clauses name, deduplicated, in order."""
    known: dict[str, ast.Name] = {}
    found: list[Diagnostic] = []
    for clause in clauses:
        for name in clause.events:
            if name.text not in scope.declarations.events:
                found.append(unknown_event(name, scope, in_trigger=False))
            else:
                known.setdefault(name.text, name)
    return tuple(known.values()), found


# ---- complete when / fail when --------------------------------------------------------------


ConditionModel = AllFinalCondition | AllInCondition | AnyInCondition


@dataclass(frozen=True, slots=True)
class Conditions:
    complete_when: tuple[AllFinalCondition | AllInCondition, ...] | None  # None: not written
    fail_when: tuple[AnyInCondition, ...]
    diagnostics: tuple[Diagnostic, ...]
    complete_data: ExprModel | None = None
    fail_data: ExprModel | None = None


def resolve_conditions(
    process: ast.Process, machines: Mapping[str, MachineResult], scope: Scope
) -> Conditions:
    completes = process.of_type(ast.CompleteWhen)
    fails = process.of_type(ast.FailWhen)
    found = list(duplicate_clauses(completes, "`complete when` clause"))
    found.extend(duplicate_clauses(fails, "`fail when` clause"))
    complete: list[AllFinalCondition | AllInCondition] = []
    for clause in completes:
        for condition in clause.conditions:
            model, diagnostics = _condition(condition, machines, scope)
            found.extend(diagnostics)
            if clause is completes[0] and isinstance(model, AllFinalCondition | AllInCondition):
                complete.append(model)
        found.extend(_never_holds(clause, machines))
    fail: list[AnyInCondition] = []
    for fail_clause in fails:
        for any_in in fail_clause.conditions:
            model, diagnostics = _condition(any_in, machines, scope)
            found.extend(diagnostics)
            if fail_clause is fails[0] and isinstance(model, AnyInCondition):
                fail.append(model)
    complete_data = [_data_condition(c.data, "`complete when`", scope, found) for c in completes]
    fail_data = [_data_condition(c.data, "`fail when`", scope, found) for c in fails]
    return Conditions(
        tuple(complete) if completes else None,
        tuple(fail),
        tuple(found),
        complete_data[0] if complete_data else None,
        fail_data[0] if fail_data else None,
    )


def _data_condition(
    expr: ast.Expr | None, clause: str, scope: Scope, found: list[Diagnostic]
) -> ExprModel | None:
    """A data expression of `complete when` / `fail when`: a `bool` reading only `data`."""
    if expr is None:
        return None
    readable = Readable(scope.process, scope.declarations.data, scope.key_type, data_only=clause)
    checked = check_expr(expr, readable)
    found.extend(checked.diagnostics)
    found.extend(not_bool(expr, checked, f"the data condition of {clause}"))
    return checked.model


def _condition(
    condition: ast.AllFinal | ast.AllIn | ast.AnyIn,
    machines: Mapping[str, MachineResult],
    scope: Scope,
) -> tuple[ConditionModel | None, list[Diagnostic]]:
    machine = machines.get(condition.machine.text)
    if machine is None:
        return None, [_unknown_machine(condition.machine, machines, scope)]
    if isinstance(condition, ast.AllFinal):
        return AllFinalCondition(machine.name), []
    found: list[Diagnostic] = []
    if machine.states:  # a machine without states is reported on its own
        found.extend(
            Diagnostic(
                "PM0203",
                f"unknown state `{state.text}`",
                state.span,
                label=f"not declared in machine `{machine.name}`",
                help=did_you_mean(state.text, machine.states),
            )
            for state in condition.states
            if state.text not in machine.states
        )
    states = tuple(dict.fromkeys(s.text for s in condition.states))
    if isinstance(condition, ast.AllIn):
        return AllInCondition(machine.name, states), found
    return AnyInCondition(machine.name, states), found


def _unknown_machine(
    name: ast.Name, machines: Mapping[str, MachineResult], scope: Scope
) -> Diagnostic:
    kind = scope.declared_kind(name.text)
    return Diagnostic(
        "PM0206",
        f"unknown machine `{name.text}`",
        name.span,
        label=f"not declared in process `{scope.process}`",
        help=(
            f"`{name.text}` is {'an' if kind == 'event' else 'a'} {kind}, not a machine"
            if kind is not None
            else did_you_mean(name.text, machines)
        ),
    )


def _never_holds(
    clause: ast.CompleteWhen, machines: Mapping[str, MachineResult]
) -> Iterator[Diagnostic]:
    """PM0903: for some machine, no reachable state satisfies all of its conditions.

    Each condition narrows the states every instance of its machine must be
    in; when nothing reachable is left, the process can never complete. A
    lone ``all M final`` is left out: with no reachable final state the
    machine's initial state is already reported as a trap.
    """
    possible: dict[str, frozenset[str]] = {}
    first: dict[str, ast.AllFinal | ast.AllIn] = {}
    reported: set[str] = set()
    for condition in clause.conditions:
        machine = machines.get(condition.machine.text)
        if machine is None or machine.reachable is None or machine.name in reported:
            continue
        if isinstance(condition, ast.AllFinal):
            states = frozenset(machine.finals)
        else:
            states = frozenset(s.text for s in condition.states)
            if not states <= machine.states.keys():
                continue  # an unknown state is reported already
        earlier = first.setdefault(machine.name, condition)
        narrowed = possible.get(machine.name, machine.reachable) & states
        possible[machine.name] = narrowed
        if narrowed or (earlier is condition and isinstance(condition, ast.AllFinal)):
            continue
        reported.add(machine.name)
        yield _never_holds_diagnostic(
            condition, machine.name, None if earlier is condition else earlier
        )


def _condition_text(condition: ast.AllFinal | ast.AllIn) -> str:
    if isinstance(condition, ast.AllFinal):
        return f"all {condition.machine.text} final"
    return f"all {condition.machine.text} in {', '.join(s.text for s in condition.states)}"


def _never_holds_diagnostic(
    condition: ast.AllFinal | ast.AllIn, machine: str, earlier: ast.AllFinal | ast.AllIn | None
) -> Diagnostic:
    if earlier is None:
        return Diagnostic(
            "PM0903",
            f"`{_condition_text(condition)}` can never hold",
            condition.span,
            label=f"no instance of `{machine}` can reach these states",
            help="name a state the machine can reach, or drop the condition",
        )
    return Diagnostic(
        "PM0903",
        f"`complete when` can never hold: no state of `{machine}` satisfies both "
        f"`{_condition_text(earlier)}` and `{_condition_text(condition)}`",
        condition.span,
        label="contradicts the earlier condition",
        labels=(Label(earlier.span, "earlier condition"),),
        notes=("`complete when` conditions are joined by `and`",),
        help="keep one of the conditions, or name a state both allow",
    )
