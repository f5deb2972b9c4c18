"""Changes between two versions of a process that break replay of recorded streams.

A stream holds the input events, every ``TransitionPlanned`` (machine,
transition, from and to state, task and its input, the data fields it set),
every ``SignalRaised`` with its payload, every task outcome with its result,
the operator events (which name machines, states, tasks and transitions,
nothing else), all under names: the process name (stream category and event-name prefix),
event, signal, task, machine, state and transition names, and field names and
values. Replaying a stream with a new definition fails when one of those names
or shapes is gone. Two warnings name changes that replay but alter what a
running instance does next: a data field's default (defaults are not
recorded) and the order in which guarded transitions are tried. ``compare``
finds such changes; each finding names a stable rule id (like buf's
``FIELD_NO_DELETE``) documented in ``docs/breaking.md``.

A :class:`Finding` holds a diagnostic, which renders in every format ``pmc
check`` prints. Locations come from the models' spans: a deletion points into
the old file, everything else into the new one. A deletion also carries an
``anchor`` in the new file (the declaration that lost the name, or the
process), for reports that can only point into the new file, such as
annotations on a pull request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Protocol, TypeVar

from pmc.diagnostics import BREAKING_RULES, Diagnostic, plural_word
from pmc.semantics.expressions import expr_text
from pmc.semantics.model import (
    DictType,
    EventModel,
    EventTriggerModel,
    FieldModel,
    ListType,
    LiteralExpr,
    MachineModel,
    OptionalType,
    ProcessModel,
    SelectorTriggerModel,
    SignalModel,
    TaskModel,
    TransitionModel,
    TriggerModel,
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
    """Every change from ``old`` to ``new`` that breaks replay, in declaration order.

    A removed event, task or machine is anchored at the new process's name.
    """
    event_removed = _Removal(
        "EVENT_NO_DELETE",
        lambda name: f"event `{name}` was removed",
        lambda name: f"recorded streams hold `{old.name}.{name}` events",
    )
    return (
        *_process_name(old, new),
        *_key(old, new),
        *_data(_Record("the process", "data_set"), old.data, new.data, new.span),
        *_declarations(old.events, new.events, event_removed, new.span, _event),
        *_declarations(old.signals, new.signals, _SIGNAL_REMOVED, new.span, _signal),
        *_declarations(old.tasks, new.tasks, _TASK_REMOVED, new.span, _task),
        *_declarations(old.machines, new.machines, _MACHINE_REMOVED, new.span, _machine),
    )


# ---- declarations matched by name ------------------------------------------------------


class _Declared(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def span(self) -> Span: ...


_D = TypeVar("_D", bound=_Declared)


@dataclass(frozen=True, slots=True)
class _Removal:
    """How to report a name recorded streams still use that the new version lost."""

    rule: str
    message: Callable[[str], str]  # from the removed name
    label: Callable[[str], str]

    def finding(self, name: str, span: Span, added: Sequence[str], anchor: Span) -> Finding:
        """The finding for ``name``, declared at ``span`` in the old file."""
        diagnostic = Diagnostic(
            self.rule,
            self.message(name),
            span,
            label=self.label(name),
            help=_rename_help(name, added),
        )
        return Finding(diagnostic, Side.OLD, anchor)


def _added(old: Iterable[str], new: Iterable[str]) -> list[str]:
    """The names ``new`` adds, in its order."""
    before = set(old)
    return [name for name in new if name not in before]


def _declarations(
    old: Sequence[_D],
    new: Sequence[_D],
    removal: _Removal,
    anchor: Span,
    kept: Callable[[_D, _D], Iterable[Finding]],
) -> Iterator[Finding]:
    """Each of ``old`` in order: a removal anchored at ``anchor`` when ``new`` has no
    namesake, otherwise what ``kept`` finds between the two."""
    new_by_name = {item.name: item for item in new}
    added = _added((item.name for item in old), new_by_name)
    for before in old:
        after = new_by_name.get(before.name)
        if after is None:
            yield removal.finding(before.name, before.span, added, anchor)
        else:
            yield from kept(before, after)


# ---- helpers ----------------------------------------------------------------------------


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
    removal = _Removal(
        shape.delete_rule,
        lambda name: f"field `{name}` was removed from {shape.what}",
        lambda _: "recorded values still carry this field",
    )
    kept = partial(_field_type, shape.what)
    yield from _declarations(shape.old_fields, shape.new_fields, removal, shape.owner_span, kept)
    added = _added((f.name for f in shape.old_fields), (f.name for f in shape.new_fields))
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


def _retyped(
    rule: str, subject: str, recorded: str, before: FieldModel, after: FieldModel
) -> Iterator[Finding]:
    """``subject`` (``field `x` of event `E```) now has a type its ``recorded`` values misfit."""
    if not _accepts(after.type, before.type):
        yield Finding(
            Diagnostic(
                rule,
                f"{subject} changed type from "
                f"`{type_text(before.type)}` to `{type_text(after.type)}`",
                after.type_span,
                label=f"{recorded} are `{type_text(before.type)}`",
                help="keep the old type, or widen it to `T | None`",
            )
        )


def _field_type(what: str, before: FieldModel, after: FieldModel) -> Iterator[Finding]:
    subject = f"field `{before.name}` of {what}"
    return _retyped("FIELD_SAME_TYPE", subject, "recorded values", before, after)


# ---- data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    """A data record: the process's or a machine's, and where its writes are recorded."""

    owner: str  # "the process", "machine `M`"
    recorded_in: str  # the `TransitionPlanned` field holding the values written


def _data(
    record: _Record, old: Sequence[FieldModel], new: Sequence[FieldModel], anchor: Span
) -> Iterator[Finding]:
    """Data fields removed, retyped or given another default.

    An added field is never reported: every data field has a default
    (PM0310), and a record is rebuilt from the defaults before the recorded
    writes are applied.
    """
    removal = _Removal(
        "DATA_FIELD_NO_DELETE",
        lambda name: f"data field `{name}` was removed from {record.owner}",
        lambda _: f"recorded `{record.recorded_in}` values name this field",
    )
    return _declarations(old, new, removal, anchor, partial(_data_field, record))


def _data_field(record: _Record, before: FieldModel, after: FieldModel) -> Iterator[Finding]:
    subject = f"data field `{before.name}` of {record.owner}"
    recorded = f"recorded `{record.recorded_in}` values"
    yield from _retyped("DATA_FIELD_SAME_TYPE", subject, recorded, before, after)
    if (before.has_default, before.default) != (after.has_default, after.default):
        yield Finding(
            Diagnostic(
                "DATA_DEFAULT_SAME",
                f"the default of data field `{before.name}` of {record.owner} changed "
                f"from `{_default_text(before)}` to `{_default_text(after)}`",
                after.span,
                label="defaults are not recorded",
                notes=(
                    "replay rebuilds a record from the defaults of the new version: "
                    f"where `{before.name}` was never set, it now reads "
                    f"`{_default_text(after)}`",
                ),
                help="keep the old default, or deploy when no stream of the old version is left",
            )
        )


def _default_text(field: FieldModel) -> str:
    """A data field's default as written; a list or dict without one starts empty."""
    if field.default is None and isinstance(field.type, ListType | DictType):
        return "[]" if isinstance(field.type, ListType) else "{}"
    return expr_text(LiteralExpr(field.default))


# ---- events, signals and tasks -----------------------------------------------------------


def _event(before: EventModel, after: EventModel) -> Iterator[Finding]:
    what = f"event `{before.name}`"
    return _fields(_Shape(what, "FIELD_NO_DELETE", before.fields, after.fields, after.span))


_SIGNAL_REMOVED = _Removal(
    "SIGNAL_NO_DELETE",
    lambda name: f"signal `{name}` was removed",
    lambda _: "recorded `SignalRaised` events name this signal, with its payload",
)


def _signal(before: SignalModel, after: SignalModel) -> Iterator[Finding]:
    # A signal's payload is recorded in `SignalRaised`, like an event's.
    what = f"signal `{before.name}`"
    return _fields(_Shape(what, "FIELD_NO_DELETE", before.fields, after.fields, after.span))


_TASK_REMOVED = _Removal(
    "TASK_NO_DELETE",
    lambda name: f"task `{name}` was removed",
    lambda _: "recorded transitions planned this task, and its outcomes name it",
)


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


# ---- machines ------------------------------------------------------------------------------


_MACHINE_REMOVED = _Removal(
    "MACHINE_NO_DELETE",
    lambda name: f"machine `{name}` was removed",
    lambda _: "recorded transitions name this machine",
)


def _machine(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    yield from _instances(before, after)
    yield from _initial(before, after)
    yield from _data(
        _Record(f"machine `{after.name}`", "instance_set"), before.data, after.data, after.span
    )
    yield from _states(before, after)
    yield from _transitions(before, after)
    yield from _guard_order(before, after)
    yield from _inserted_before(before, after)


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
    removal = _Removal(
        "STATE_NO_DELETE",
        lambda state: f"state `{state}` was removed from machine `{before.name}`",
        lambda _: "recorded transitions enter or leave this state",
    )
    added = _added(before.states, after.states)
    for state in before.states:
        if state not in after.states:
            yield removal.finding(state, before.state_span(state), added, after.states_span)


def _transitions(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    removal = _Removal(
        "TRANSITION_NO_DELETE",
        lambda name: f"transition `{name}` was removed from machine `{before.name}`",
        lambda _: "recorded `TransitionPlanned` events name this transition",
    )
    kept = partial(_endpoints_kept, before.name, frozenset(after.states))
    return _declarations(before.transitions, after.transitions, removal, after.span, kept)


def _endpoints(transition: TransitionModel) -> list[tuple[str, str]]:
    return [(source, transition.target) for source in transition.sources]


def _endpoints_kept(
    machine: str, states: frozenset[str], before: TransitionModel, after: TransitionModel
) -> Iterator[Finding]:
    # A removed state is reported once, as STATE_NO_DELETE, not again here.
    kept = set(_endpoints(after))
    lost = [
        (s, t) for s, t in _endpoints(before) if (s, t) not in kept and s in states and t in states
    ]
    if not lost:
        return
    pairs = ", ".join(f"`{s} -> {t}`" for s, t in lost)
    yield Finding(
        Diagnostic(
            "TRANSITION_SAME_ENDPOINTS",
            f"transition `{after.name}` of machine `{machine}` no longer goes {pairs}",
            after.endpoints_span,
            label=f"recorded `{after.name}` {plural_word(len(lost), 'step')} would not replay",
            help="keep the old sources and target; "
            "add a transition with a new name for the new path",
        )
    )


def _candidates(machine: MachineModel) -> dict[tuple[str, TriggerModel], list[TransitionModel]]:
    """The transitions tried for each state and trigger, in the order they are tried."""
    tried: dict[tuple[str, TriggerModel], list[TransitionModel]] = {}
    for transition in machine.transitions:
        for source in transition.sources:
            tried.setdefault((source, transition.trigger), []).append(transition)
    return tried


def _guard_order(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    """Guarded transitions of one state and trigger that are now tried in another order.

    Only the transitions both versions have are compared, and one warning is
    given per pair of transitions swapped, at the first state it happens in.
    """
    old = _candidates(before)
    reported: set[frozenset[str]] = set()
    for (state, trigger), tried in _candidates(after).items():
        names = [t.name for t in tried]
        was = [t.name for t in old.get((state, trigger), []) if t.name in names]
        now = [name for name in names if name in was]
        # Two of them cannot both be unguarded (PM0403): a change of order is
        # a change of which guard is asked first.
        if now == was:
            continue
        pair = frozenset(_first_swap(was, now))
        if pair in reported:
            continue
        reported.add(pair)
        moved = next(t for t in tried if t.name in pair)
        yield Finding(
            Diagnostic(
                "GUARD_ORDER_SAME",
                f"in state `{state}` of machine `{after.name}`, transitions are now tried "
                f"in the order {_names(now)}, not {_names(was)}",
                moved.span,
                label="the first transition whose guard holds is taken",
                notes=(
                    "recorded transitions replay as recorded; running instances may now "
                    "take another transition for the same input",
                ),
                help="keep the old order, unless the guards never hold together",
            )
        )


def _inserted_before(before: MachineModel, after: MachineModel) -> Iterator[Finding]:
    """New transitions of a state and trigger placed before ones the old version had.

    Tried first, a new transition may now be taken for an input that took an
    old one. One warning per new transition, at the first state it happens in.
    """
    old = _candidates(before)
    reported: set[str] = set()
    for (state, trigger), tried in _candidates(after).items():
        was = {t.name for t in old.get((state, trigger), [])}
        # Each new transition with the first old one tried after it.
        inserted: list[tuple[TransitionModel, str]] = []
        next_old: str | None = None
        for t in reversed(tried):
            if t.name in was:
                next_old = t.name
            elif next_old is not None and t.name not in reported:
                inserted.append((t, next_old))
        for new, old_one in reversed(inserted):
            reported.add(new.name)
            yield Finding(
                Diagnostic(
                    "GUARD_ORDER_SAME",
                    f"in state `{state}` of machine `{after.name}`, the new transition "
                    f"`{new.name}` is tried before `{old_one}`",
                    new.span,
                    label="the first transition whose guard holds is taken",
                    notes=(
                        "recorded transitions replay as recorded; running instances may now "
                        f"take `{new.name}` for an input that took `{old_one}`",
                    ),
                    help="place it after the transitions the old version had, unless its "
                    "guard never holds together with theirs",
                )
            )


def _first_swap(was: Sequence[str], now: Sequence[str]) -> tuple[str, str]:
    """The first two names, in the new order, that the old order had the other way round."""
    return next(
        (a, b) for i, a in enumerate(now) for b in now[i + 1 :] if was.index(b) < was.index(a)
    )


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)
