"""Changes between two versions of a process that break replay of recorded streams.

A stream holds the input events, every ``TransitionPlanned`` (machine,
transition, from and to state, task and its input), every task outcome with
its result, all under names: the process name (stream category and event-name
prefix), event, task, machine, state and transition names, and field names and
values. Replaying a stream with a new definition fails when one of those names
or shapes is gone. ``compare`` finds such changes; each finding names a stable
rule id (like buf's ``FIELD_NO_DELETE``) documented in ``docs/breaking.md``.

Findings are diagnostics: a :class:`Finding` renders in every format ``pmc
check`` prints. The model has no spans, so locations come from the AST: a
deletion points into the old file, everything else into the new one. A
deletion also carries an ``anchor`` in the new file (the declaration that
lost the name, or the process), for reports that can only point into the new
file, such as annotations on a pull request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from pmc.diagnostics import Diagnostic
from pmc.semantics.model import (
    DictType,
    FieldModel,
    ListType,
    MachineModel,
    OptionalType,
    ProcessModel,
    TaskModel,
    TransitionModel,
    ValueType,
)
from pmc.semantics.types import type_text
from pmc.source import Span
from pmc.syntax import ast


class Side(StrEnum):
    """Which version a finding's span points into."""

    OLD = "old"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class Finding(Diagnostic):
    """A breaking change: a diagnostic whose id is a breaking rule, and the file it points into."""

    side: Side = Side.NEW
    # For a finding in the old file: where its subject was, in the new one.
    anchor: Span | None = None


@dataclass(frozen=True, slots=True)
class Version:
    """One version of a process: its model, and its AST for locations."""

    model: ProcessModel
    module: ast.Module


def compare(old: Version, new: Version) -> tuple[Finding, ...]:
    """Every change from ``old`` to ``new`` that breaks replay, in declaration order."""
    return (
        *_process_name(old, new),
        *_key(old, new),
        *_events(old, new),
        *_tasks(old, new),
        *_machines(old, new),
    )


# ---- locations ------------------------------------------------------------------------


_Decl = TypeVar("_Decl", ast.EventDecl, ast.TaskDecl, ast.MachineDecl)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def _match_by_name(
    old: Sequence[_N], new: Sequence[_N]
) -> tuple[list[tuple[_N, _N | None]], list[str]]:
    """Each old item with its namesake in ``new`` (None: removed), and the names ``new`` adds."""
    new_by_name = {item.name: item for item in new}
    old_names = {item.name for item in old}
    added = [item.name for item in new if item.name not in old_names]
    return [(item, new_by_name.get(item.name)) for item in old], added


def _by_name(decls: Sequence[_Decl], name: str) -> _Decl | None:
    return next((d for d in decls if d.name.text == name), None)


def _field(fields: Sequence[ast.Field], name: str) -> ast.Field | None:
    return next((f for f in fields if f.name.text == name), None)


def _event_span(version: Version, event: str) -> Span:
    decl = _by_name(version.module.process.events, event)
    return decl.name.span if decl else _fallback(version)


def _task_decl(version: Version, task: str) -> ast.TaskDecl | None:
    return _by_name(version.module.process.tasks, task)


def _machine_decl(version: Version, machine: str) -> ast.MachineDecl | None:
    return _by_name(version.module.process.machines, machine)


def _fallback(version: Version) -> Span:
    # Both files passed `pmc check`, so every name is found; the process name
    # keeps a finding printable should the AST and model ever disagree.
    return version.module.process.name.span


def _state_span(version: Version, machine: str, state: str) -> Span:
    decl = _machine_decl(version, machine)
    names = [n for c in decl.states_clauses for n in c.names] if decl else []
    return next((n.span for n in names if n.text == state), _fallback(version))


def _transition_decl(version: Version, machine: str, name: str) -> ast.Transition | None:
    decl = _machine_decl(version, machine)
    transitions = decl.transitions if decl else ()
    return next((t for t in transitions if t.name.text == name), None)


# ---- helpers ----------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _rename_help(removed: str, added: Sequence[str]) -> str:
    """Help for a removed name; names the new one when it may have been a rename."""
    if len(added) == 1:
        return f"if `{removed}` was renamed to `{added[0]}`, keep the old name: streams record it"
    return f"keep `{removed}`: recorded streams still use it"


def _accepts(new: ValueType, old: ValueType) -> bool:
    """Whether every value recorded as ``old`` is still a valid ``new``.

    Only ``T`` to ``T | None`` widens, also inside containers. Other
    conversions (``int`` to ``float``, say) depend on how values were
    serialised, so they are reported rather than guessed.
    """
    if new == old:
        return True
    if isinstance(new, OptionalType):
        return _accepts(new.inner, old.inner if isinstance(old, OptionalType) else old)
    if isinstance(new, ListType) and isinstance(old, ListType):
        return _accepts(new.item, old.item)
    if isinstance(new, DictType) and isinstance(old, DictType):
        return _accepts(new.value, old.value)
    return False


# ---- process-level -------------------------------------------------------------------------


def _process_name(old: Version, new: Version) -> Iterator[Finding]:
    before, after = old.model.name, new.model.name
    if before != after:
        yield Finding(
            "PROCESS_SAME_NAME",
            f"process `{before}` was renamed to `{after}`",
            new.module.process.name.span,
            label=f"recorded streams are in category `{before}`",
            notes=(f"stored events are named `{before}.<Event>`, and so are lifecycle events",),
            help=f"keep the name `{before}`, or deploy `{after}` as a new process",
        )


def _key(old: Version, new: Version) -> Iterator[Finding]:
    before, after = old.model.key, new.model.key
    keys = new.module.process.keys
    span = keys[0].field.span if keys else _fallback(new)
    if before.field != after.field:
        yield Finding(
            "KEY_SAME",
            f"the key changed from `{before.field}` to `{after.field}`",
            span,
            label="streams are found by the value of the key field",
            help=f"keep `key {before.field}`",
        )
    elif before.type != after.type:
        yield Finding(
            "KEY_SAME",
            f"the key `{after.field}` changed type from `{type_text(before.type)}` "
            f"to `{type_text(after.type)}`",
            span,
            label="stream names were made from the old type's values",
            help=f"keep `{after.field}: {type_text(before.type)}` on the trigger events",
        )


# ---- fields --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """A recorded shape: an event's payload, a task's input or its result."""

    what: str  # "event `E`", "task `T`", "the result of task `T`"
    delete_rule: str
    old_fields: tuple[FieldModel, ...]
    new_fields: tuple[FieldModel, ...]
    old_decl_fields: tuple[ast.Field, ...]
    new_decl_fields: tuple[ast.Field, ...]


def _fields(shape: _Shape, old: Version, owner_span: Span) -> Iterator[Finding]:
    pairs, added = _match_by_name(shape.old_fields, shape.new_fields)
    for before, after in pairs:
        if after is None:
            removed = _field(shape.old_decl_fields, before.name)
            yield Finding(
                shape.delete_rule,
                f"field `{before.name}` was removed from {shape.what}",
                removed.span if removed else _fallback(old),
                label="recorded values still carry this field",
                help=_rename_help(before.name, added),
                side=Side.OLD,
                anchor=owner_span,
            )
        elif not _accepts(after.type, before.type):
            changed = _field(shape.new_decl_fields, after.name)
            yield Finding(
                "FIELD_SAME_TYPE",
                f"field `{before.name}` of {shape.what} changed type from "
                f"`{type_text(before.type)}` to `{type_text(after.type)}`",
                changed.type.span if changed else owner_span,
                label=f"recorded values are `{type_text(before.type)}`",
                help="keep the old type, or widen it to `T | None`",
            )
    for after in shape.new_fields:
        if after.name in added and not after.has_default:
            added_decl = _field(shape.new_decl_fields, after.name)
            yield Finding(
                "FIELD_NO_ADD_REQUIRED",
                f"field `{after.name}` was added to {shape.what} without a default",
                added_decl.span if added_decl else owner_span,
                label="recorded values lack this field",
                help=(
                    f"give it a default (`{after.name}: {type_text(after.type)} = ...`), "
                    "or an optional type with `= none`"
                ),
            )


# ---- events and tasks -----------------------------------------------------------------


def _events(old: Version, new: Version) -> Iterator[Finding]:
    pairs, added = _match_by_name(old.model.events, new.model.events)
    for before, after in pairs:
        if after is None:
            yield Finding(
                "EVENT_NO_DELETE",
                f"event `{before.name}` was removed",
                _event_span(old, before.name),
                label=f"recorded streams hold `{old.model.name}.{before.name}` events",
                help=_rename_help(before.name, added),
                side=Side.OLD,
                anchor=_fallback(new),
            )
            continue
        old_decl = _by_name(old.module.process.events, before.name)
        new_decl = _by_name(new.module.process.events, after.name)
        shape = _Shape(
            f"event `{before.name}`",
            "FIELD_NO_DELETE",
            before.fields,
            after.fields,
            old_decl.fields if old_decl else (),
            new_decl.fields if new_decl else (),
        )
        yield from _fields(shape, old, _event_span(new, after.name))


def _returns_fields(decl: ast.TaskDecl | None) -> tuple[ast.Field, ...]:
    return tuple(f for r in decl.returns for f in r.fields) if decl else ()


def _task(old: Version, new: Version, before: TaskModel, after: TaskModel) -> Iterator[Finding]:
    old_decl, new_decl = _task_decl(old, before.name), _task_decl(new, after.name)
    name_span = new_decl.name.span if new_decl else _fallback(new)
    inputs = _Shape(
        f"task `{before.name}`",
        "FIELD_NO_DELETE",
        before.fields,
        after.fields,
        old_decl.fields if old_decl else (),
        new_decl.fields if new_decl else (),
    )
    yield from _fields(inputs, old, name_span)
    results = _Shape(
        f"the result of task `{before.name}`",
        "RETURNS_FIELD_NO_DELETE",
        before.returns,
        after.returns,
        _returns_fields(old_decl),
        _returns_fields(new_decl),
    )
    yield from _fields(results, old, name_span)
    if before.mode != after.mode:
        mode_span = new_decl.mode_span if new_decl else None
        yield Finding(
            "TASK_MODE_SAME",
            f"task `{after.name}` changed from {before.mode} to {after.mode}",
            mode_span or name_span,
            label=f"tasks planned before the change were recorded as {before.mode}",
            help=f"deploy when no `{after.name}` planned by the old version is still pending",
        )


def _tasks(old: Version, new: Version) -> Iterator[Finding]:
    pairs, added = _match_by_name(old.model.tasks, new.model.tasks)
    for before, after in pairs:
        if after is None:
            decl = _task_decl(old, before.name)
            yield Finding(
                "TASK_NO_DELETE",
                f"task `{before.name}` was removed",
                decl.name.span if decl else _fallback(old),
                label="recorded transitions planned this task, and its outcomes name it",
                help=_rename_help(before.name, added),
                side=Side.OLD,
                anchor=_fallback(new),
            )
        else:
            yield from _task(old, new, before, after)


# ---- machines ------------------------------------------------------------------------------


def _machines(old: Version, new: Version) -> Iterator[Finding]:
    pairs, added = _match_by_name(old.model.machines, new.model.machines)
    for before, after in pairs:
        if after is None:
            decl = _machine_decl(old, before.name)
            yield Finding(
                "MACHINE_NO_DELETE",
                f"machine `{before.name}` was removed",
                decl.name.span if decl else _fallback(old),
                label="recorded transitions name this machine",
                help=_rename_help(before.name, added),
                side=Side.OLD,
                anchor=_fallback(new),
            )
        else:
            yield from _instances(new, before, after)
            yield from _initial(new, before, after)
            yield from _states(old, new, before, after)
            yield from _transitions(old, new, before, after)


def _machine_span(version: Version, machine: str) -> Span:
    decl = _machine_decl(version, machine)
    return decl.name.span if decl else _fallback(version)


def _instances(new: Version, before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    if before.multi_instance == after.multi_instance:
        return
    decl = _machine_decl(new, after.name)
    triggers = [t.trigger for t in decl.transitions] if decl else []
    kind = ast.SelectorTrigger if after.multi_instance else ast.EventTrigger
    span = next((t.span for t in triggers if isinstance(t, kind)), None)
    if after.multi_instance:
        message = f"machine `{after.name}` now has many instances (`on Event.field`), not one"
        label = "recorded transitions name the machine's single instance"
    else:
        message = f"machine `{after.name}` now has a single instance, not many"
        label = "recorded transitions name instances by their field values"
    yield Finding(
        "MACHINE_SAME_INSTANCES",
        message,
        span or _machine_span(new, after.name),
        label=label,
        notes=(
            "a single-instance machine is triggered by `on Event`, "
            "a multi-instance one by `on Event.field`",
        ),
        help="keep the machine's triggers of the same kind; "
        "draw the new flow as a new machine or process",
    )


def _initial(new: Version, before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    if before.initial == after.initial:
        return
    decl = _machine_decl(new, after.name)
    clauses = decl.initial_clauses if decl else ()
    yield Finding(
        "INITIAL_SAME",
        f"machine `{after.name}` now starts in `{after.initial}`, not `{before.initial}`",
        clauses[0].state.span if clauses else _machine_span(new, after.name),
        label=f"recorded first transitions leave `{before.initial}`",
        help=f"keep `initial {before.initial}`; "
        "if the new start applies to new instances only, deploy it as a new process",
    )


def _states(
    old: Version, new: Version, before: MachineModel, after: MachineModel
) -> Iterator[Finding]:
    decl = _machine_decl(new, after.name)
    clauses = decl.states_clauses if decl else ()
    anchor = clauses[0].span if clauses else _machine_span(new, after.name)
    kept = set(after.states)
    added = [s for s in after.states if s not in set(before.states)]
    for state in before.states:
        if state not in kept:
            yield Finding(
                "STATE_NO_DELETE",
                f"state `{state}` was removed from machine `{before.name}`",
                _state_span(old, before.name, state),
                label="recorded transitions enter or leave this state",
                help=_rename_help(state, added),
                side=Side.OLD,
                anchor=anchor,
            )


def _endpoints(transition: TransitionModel) -> list[tuple[str, str]]:
    return [(source, transition.target) for source in transition.sources]


def _transitions(
    old: Version, new: Version, before: MachineModel, after: MachineModel
) -> Iterator[Finding]:
    pairs, added = _match_by_name(before.transitions, after.transitions)
    states = set(after.states)
    for transition, changed in pairs:
        if changed is None:
            decl = _transition_decl(old, before.name, transition.name)
            yield Finding(
                "TRANSITION_NO_DELETE",
                f"transition `{transition.name}` was removed from machine `{before.name}`",
                decl.name.span if decl else _fallback(old),
                label="recorded `TransitionPlanned` events name this transition",
                help=_rename_help(transition.name, added),
                side=Side.OLD,
                anchor=_machine_span(new, after.name),
            )
            continue
        # A removed state is reported once, as STATE_NO_DELETE, not again here.
        kept = set(_endpoints(changed))
        lost = [
            (s, t)
            for s, t in _endpoints(transition)
            if (s, t) not in kept and s in states and t in states
        ]
        if lost:
            yield _endpoints_finding(new, before.name, changed, lost)


def _endpoints_finding(
    new: Version, machine: str, changed: TransitionModel, lost: Sequence[tuple[str, str]]
) -> Finding:
    decl = _transition_decl(new, machine, changed.name)
    span = decl.sources[0].span.cover(decl.target.span) if decl else _fallback(new)
    pairs = ", ".join(f"`{s} -> {t}`" for s, t in lost)
    return Finding(
        "TRANSITION_SAME_ENDPOINTS",
        f"transition `{changed.name}` of machine `{machine}` no longer goes {pairs}",
        span,
        label=f"recorded `{changed.name}` {_plural(len(lost), 'step')} would not replay",
        help=("keep the old sources and target; add a transition with a new name for the new path"),
    )
