"""Changes between two versions of a process that break replay of recorded streams.

A stream holds the input events, every ``TransitionPlanned`` (machine,
transition, from and to state, task and its input), every task outcome with
its result, all under names: the process name (stream category and event-name
prefix), event, task, machine, state and transition names, and field names and
values. Replaying a stream with a new definition fails when one of those names
or shapes is gone. ``compare`` finds such changes; each finding names a stable
rule id (like buf's ``FIELD_NO_DELETE``) documented in ``docs/breaking.md``.

A :class:`Finding` holds a diagnostic, which renders in every format ``pmc
check`` prints. Locations come from the models' spans: a deletion points into
the old file, everything else into the new one. A deletion also carries an
``anchor`` in the new file (the declaration that lost the name, or the
process), for reports that can only point into the new file, such as
annotations on a pull request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from pmc.diagnostics import BREAKING_RULES, Diagnostic
from pmc.semantics.model import (
    DictType,
    EventTriggerModel,
    FieldModel,
    ListType,
    MachineModel,
    OptionalType,
    ProcessModel,
    SelectorTriggerModel,
    TaskModel,
    TransitionModel,
    ValueType,
)
from pmc.semantics.types import type_text
from pmc.source import Span


class Side(StrEnum):
    """Which version a finding's span points into."""

    OLD = "old"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class Finding:
    """A breaking change: a diagnostic naming a breaking rule, and the file it points into.

    A finding in the old file has an ``anchor``: where its subject is in the new one.
    """

    diagnostic: Diagnostic
    side: Side = Side.NEW
    anchor: Span | None = None

    def __post_init__(self) -> None:
        if self.diagnostic.id not in BREAKING_RULES:
            raise ValueError(f"unregistered breaking rule {self.diagnostic.id}")
        if (self.side is Side.OLD) != (self.anchor is not None):
            raise ValueError("a finding has an anchor exactly when it points into the old file")


def compare(old: ProcessModel, new: ProcessModel) -> tuple[Finding, ...]:
    """Every change from ``old`` to ``new`` that breaks replay, in declaration order."""
    return (
        *_process_name(old, new),
        *_key(old, new),
        *_events(old, new),
        *_tasks(old, new),
        *_machines(old, new),
    )


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


def _process_name(old: ProcessModel, new: ProcessModel) -> Iterator[Finding]:
    before, after = old.name, new.name
    if before != after:
        yield Finding(
            Diagnostic(
                "PROCESS_SAME_NAME",
                f"process `{before}` was renamed to `{after}`",
                new.span,
                label=f"recorded streams are in category `{before}`",
                notes=(f"stored events are named `{before}.<Event>`, and so are lifecycle events",),
                help=f"keep the name `{before}`, or deploy `{after}` as a new process",
            )
        )


def _key(old: ProcessModel, new: ProcessModel) -> Iterator[Finding]:
    before, after = old.key, new.key
    if before.field != after.field:
        yield Finding(
            Diagnostic(
                "KEY_SAME",
                f"the key changed from `{before.field}` to `{after.field}`",
                after.span,
                label="streams are found by the value of the key field",
                help=f"keep `key {before.field}`",
            )
        )
    elif before.type != after.type:
        yield Finding(
            Diagnostic(
                "KEY_SAME",
                f"the key `{after.field}` changed type from `{type_text(before.type)}` "
                f"to `{type_text(after.type)}`",
                after.span,
                label="stream names were made from the old type's values",
                help=f"keep `{after.field}: {type_text(before.type)}` on the trigger events",
            )
        )


# ---- fields --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """A recorded shape: an event's payload, a task's input or its result."""

    what: str  # "event `E`", "task `T`", "the result of task `T`"
    delete_rule: str
    old_fields: tuple[FieldModel, ...]
    new_fields: tuple[FieldModel, ...]
    owner_span: Span  # the name of its event or task in the new file


def _fields(shape: _Shape) -> Iterator[Finding]:
    pairs, added = _match_by_name(shape.old_fields, shape.new_fields)
    for before, after in pairs:
        if after is None:
            removed = Diagnostic(
                shape.delete_rule,
                f"field `{before.name}` was removed from {shape.what}",
                before.span,
                label="recorded values still carry this field",
                help=_rename_help(before.name, added),
            )
            yield Finding(removed, Side.OLD, shape.owner_span)
        elif not _accepts(after.type, before.type):
            yield Finding(
                Diagnostic(
                    "FIELD_SAME_TYPE",
                    f"field `{before.name}` of {shape.what} changed type from "
                    f"`{type_text(before.type)}` to `{type_text(after.type)}`",
                    after.type_span,
                    label=f"recorded values are `{type_text(before.type)}`",
                    help="keep the old type, or widen it to `T | None`",
                )
            )
    for after in shape.new_fields:
        if after.name in added and not after.has_default:
            yield Finding(
                Diagnostic(
                    "FIELD_NO_ADD_REQUIRED",
                    f"field `{after.name}` was added to {shape.what} without a default",
                    after.span,
                    label="recorded values lack this field",
                    help=(
                        f"give it a default (`{after.name}: {type_text(after.type)} = ...`), "
                        "or an optional type with `= none`"
                    ),
                )
            )


# ---- events and tasks -----------------------------------------------------------------


def _events(old: ProcessModel, new: ProcessModel) -> Iterator[Finding]:
    pairs, added = _match_by_name(old.events, new.events)
    for before, after in pairs:
        if after is None:
            removed = Diagnostic(
                "EVENT_NO_DELETE",
                f"event `{before.name}` was removed",
                before.span,
                label=f"recorded streams hold `{old.name}.{before.name}` events",
                help=_rename_help(before.name, added),
            )
            yield Finding(removed, Side.OLD, new.span)
            continue
        what = f"event `{before.name}`"
        yield from _fields(_Shape(what, "FIELD_NO_DELETE", before.fields, after.fields, after.span))


def _task(before: TaskModel, after: TaskModel) -> Iterator[Finding]:
    inputs = _Shape(
        f"task `{before.name}`", "FIELD_NO_DELETE", before.fields, after.fields, after.span
    )
    yield from _fields(inputs)
    results = _Shape(
        f"the result of task `{before.name}`",
        "RETURNS_FIELD_NO_DELETE",
        before.returns,
        after.returns,
        after.span,
    )
    yield from _fields(results)
    if before.mode != after.mode:
        yield Finding(
            Diagnostic(
                "TASK_MODE_SAME",
                f"task `{after.name}` changed from {before.mode} to {after.mode}",
                after.mode_span or after.span,
                label=f"tasks planned before the change were recorded as {before.mode}",
                help=f"deploy when no `{after.name}` planned by the old version is still pending",
            )
        )


def _tasks(old: ProcessModel, new: ProcessModel) -> Iterator[Finding]:
    pairs, added = _match_by_name(old.tasks, new.tasks)
    for before, after in pairs:
        if after is None:
            removed = Diagnostic(
                "TASK_NO_DELETE",
                f"task `{before.name}` was removed",
                before.span,
                label="recorded transitions planned this task, and its outcomes name it",
                help=_rename_help(before.name, added),
            )
            yield Finding(removed, Side.OLD, new.span)
        else:
            yield from _task(before, after)


# ---- machines ------------------------------------------------------------------------------


def _machines(old: ProcessModel, new: ProcessModel) -> Iterator[Finding]:
    pairs, added = _match_by_name(old.machines, new.machines)
    for before, after in pairs:
        if after is None:
            removed = Diagnostic(
                "MACHINE_NO_DELETE",
                f"machine `{before.name}` was removed",
                before.span,
                label="recorded transitions name this machine",
                help=_rename_help(before.name, added),
            )
            yield Finding(removed, Side.OLD, new.span)
        else:
            yield from _instances(before, after)
            yield from _initial(before, after)
            yield from _states(before, after)
            yield from _transitions(before, after)


def _instances(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    if before.multi_instance == after.multi_instance:
        return
    kind = SelectorTriggerModel if after.multi_instance else EventTriggerModel
    span = next((t.trigger_span for t in after.transitions if isinstance(t.trigger, kind)), None)
    if after.multi_instance:
        message = f"machine `{after.name}` now has many instances (`on Event.field`), not one"
        label = "recorded transitions name the machine's single instance"
    else:
        message = f"machine `{after.name}` now has a single instance, not many"
        label = "recorded transitions name instances by their field values"
    yield Finding(
        Diagnostic(
            "MACHINE_SAME_INSTANCES",
            message,
            span or after.span,
            label=label,
            notes=(
                "a single-instance machine is triggered by `on Event`, "
                "a multi-instance one by `on Event.field`",
            ),
            help="keep the machine's triggers of the same kind; "
            "draw the new flow as a new machine or process",
        )
    )


def _initial(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    if before.initial == after.initial:
        return
    yield Finding(
        Diagnostic(
            "INITIAL_SAME",
            f"machine `{after.name}` now starts in `{after.initial}`, not `{before.initial}`",
            after.initial_span,
            label=f"recorded first transitions leave `{before.initial}`",
            help=f"keep `initial {before.initial}`; "
            "if the new start applies to new instances only, deploy it as a new process",
        )
    )


def _states(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    kept = set(after.states)
    added = [s for s in after.states if s not in set(before.states)]
    for state in before.states:
        if state not in kept:
            removed = Diagnostic(
                "STATE_NO_DELETE",
                f"state `{state}` was removed from machine `{before.name}`",
                before.state_span(state),
                label="recorded transitions enter or leave this state",
                help=_rename_help(state, added),
            )
            yield Finding(removed, Side.OLD, after.states_span)


def _endpoints(transition: TransitionModel) -> list[tuple[str, str]]:
    return [(source, transition.target) for source in transition.sources]


def _transitions(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    pairs, added = _match_by_name(before.transitions, after.transitions)
    states = set(after.states)
    for transition, changed in pairs:
        if changed is None:
            removed = Diagnostic(
                "TRANSITION_NO_DELETE",
                f"transition `{transition.name}` was removed from machine `{before.name}`",
                transition.span,
                label="recorded `TransitionPlanned` events name this transition",
                help=_rename_help(transition.name, added),
            )
            yield Finding(removed, Side.OLD, after.span)
            continue
        # A removed state is reported once, as STATE_NO_DELETE, not again here.
        kept = set(_endpoints(changed))
        lost = [
            (s, t)
            for s, t in _endpoints(transition)
            if (s, t) not in kept and s in states and t in states
        ]
        if lost:
            yield _endpoints_finding(before.name, changed, lost)


def _endpoints_finding(
    machine: str, changed: TransitionModel, lost: Sequence[tuple[str, str]]
) -> Finding:
    pairs = ", ".join(f"`{s} -> {t}`" for s, t in lost)
    return Finding(
        Diagnostic(
            "TRANSITION_SAME_ENDPOINTS",
            f"transition `{changed.name}` of machine `{machine}` no longer goes {pairs}",
            changed.endpoints_span,
            label=f"recorded `{changed.name}` {_plural(len(lost), 'step')} would not replay",
            help="keep the old sources and target; "
            "add a transition with a new name for the new path",
        )
    )
