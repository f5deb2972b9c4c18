"""Transition triggers: resolution against the declared events and tasks."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from pmc.diagnostics import Diagnostic, Label
from pmc.diagnostics.suggest import did_you_mean
from pmc.semantics.declarations import EventInfo, positive_duration
from pmc.semantics.model import (
    EventTriggerModel,
    Outcome,
    OutcomeTriggerModel,
    SelectorTriggerModel,
    SignalTriggerModel,
    TimerTriggerModel,
    TriggerModel,
    ValueType,
)
from pmc.semantics.scope import Scope
from pmc.semantics.types import STR, selector_fan_out, type_text
from pmc.syntax import ast

# ``T failed`` carries the reason of the last failed attempt and nothing else.
FAILED_FIELDS: Mapping[str, ValueType | None] = {"reason": STR}


@dataclass(frozen=True, slots=True)
class TriggerInfo:
    """A trigger as the checks need it.

    ``model`` is None when the trigger did not resolve (already reported);
    ``fields`` is what ``event.FIELD`` may read, None when unknown (so that an
    unresolved trigger does not also make every binding an error).
    """

    identity: Hashable
    display: str
    model: TriggerModel | None = None
    fields: Mapping[str, ValueType | None] | None = None
    event: ast.Name | None = None  # the input event named, if it resolved
    signal: ast.Name | None = None  # the signal named, if it resolved
    task: str | None = None  # the task whose outcome this is, if it resolved
    is_timer: bool = False
    diagnostics: tuple[Diagnostic, ...] = field(default=())


def resolve_trigger(
    trigger: ast.EventTrigger | ast.SelectorTrigger | ast.OutcomeTrigger | ast.TimerTrigger,
    scope: Scope,
) -> TriggerInfo:
    """A trigger other than a deadline (which reads data: see ``transitions``)."""
    if isinstance(trigger, ast.EventTrigger | ast.SelectorTrigger):
        return _named_trigger(trigger, scope)
    if isinstance(trigger, ast.OutcomeTrigger):
        return _outcome_trigger(trigger, scope)
    return _timer_trigger(trigger)


@dataclass(frozen=True, slots=True)
class _Named:
    event: ast.Name | None
    signal: ast.Name | None


def _named_trigger(trigger: ast.EventTrigger | ast.SelectorTrigger, scope: Scope) -> TriggerInfo:
    """``on Name`` / ``on Name.field``: an input event, else a signal of that name."""
    name = trigger.event.text
    declarations = scope.declarations
    signal = name not in declarations.events and name in declarations.signals
    # An event fires once however a machine selects its instances, so the
    # selector field is not part of the trigger's identity.
    identity = ("signal" if signal else "event", name)
    display = f"`{name}`"
    event = (declarations.signals if signal else declarations.events).get(name)
    if event is None:
        return TriggerInfo(identity, display, diagnostics=(unknown_event(trigger.event, scope),))
    named = _Named(None, trigger.event) if signal else _Named(trigger.event, None)
    fields = event.field_types
    if isinstance(trigger, ast.EventTrigger):
        model: TriggerModel = SignalTriggerModel(name) if signal else EventTriggerModel(name)
        return TriggerInfo(identity, display, model, fields, event=named.event, signal=named.signal)
    kind = "signal" if signal else "event"
    selector = event.fields.get(trigger.field.text)
    if selector is None:
        unknown = Diagnostic(
            "PM0204",
            f"unknown field `{trigger.field.text}` on {kind} `{name}`",
            trigger.field.span,
            label=f"not a field of {kind} `{name}`",
            help=did_you_mean(trigger.field.text, event.fields),
        )
        return TriggerInfo(
            identity,
            display,
            None,
            fields,
            diagnostics=(unknown,),
            event=named.event,
            signal=named.signal,
        )
    if selector.type is None:  # the field's type is already reported
        return TriggerInfo(identity, display, None, fields, event=named.event, signal=named.signal)
    fan_out = selector_fan_out(selector.type)
    if fan_out is None:
        bad = _bad_selector(trigger, event, selector.type)
        return TriggerInfo(
            identity,
            display,
            None,
            fields,
            diagnostics=(bad,),
            event=named.event,
            signal=named.signal,
        )
    if signal:
        model = SignalTriggerModel(name, trigger.field.text, fan_out)
    else:
        model = SelectorTriggerModel(name, trigger.field.text, fan_out)
    return TriggerInfo(identity, display, model, fields, event=named.event, signal=named.signal)


def _bad_selector(
    trigger: ast.SelectorTrigger, event: EventInfo, value_type: ValueType
) -> Diagnostic:
    field = event.fields[trigger.field.text]
    return Diagnostic(
        "PM0501",
        f"`{event.decl.name.text}.{trigger.field.text}` cannot select machine instances",
        trigger.field.span,
        label=f"`{trigger.field.text}` is `{type_text(value_type)}`",
        labels=(Label(field.decl.type.span, "declared here"),),
        help="an instance selector must be `str`, `int` or `UUID`, or a `list` of one of them",
    )


def unknown_event(name: ast.Name, scope: Scope, in_trigger: bool = True) -> Diagnostic:
    kind = scope.declared_kind(name.text)
    help: str | None
    if kind == "task" and in_trigger:
        help = f"`{name.text}` is a task: write `{name.text} completed` or `{name.text} failed`"
    elif kind is not None:
        help = f"`{name.text}` is a {kind}, not an event"
    elif in_trigger:
        # A trigger may name a signal as well as an event.
        help = did_you_mean(name.text, [*scope.declarations.events, *scope.declarations.signals])
    else:
        help = did_you_mean(name.text, scope.declarations.events)
    return Diagnostic(
        "PM0201",
        f"unknown event `{name.text}`",
        name.span,
        label=f"not declared in process `{scope.process}`",
        help=help,
    )


def unknown_task(name: ast.Name, scope: Scope) -> Diagnostic:
    kind = scope.declared_kind(name.text)
    help = (
        f"`{name.text}` is {'an' if kind == 'event' else 'a'} {kind}, not a task"
        if kind is not None
        else did_you_mean(name.text, scope.declarations.tasks)
    )
    return Diagnostic(
        "PM0202",
        f"unknown task `{name.text}`",
        name.span,
        label=f"not declared in process `{scope.process}`",
        help=help,
    )


def _outcome_trigger(trigger: ast.OutcomeTrigger, scope: Scope) -> TriggerInfo:
    name = trigger.task.text
    outcome = Outcome(trigger.outcome.value)
    identity = ("outcome", name, outcome)
    display = f"`{name} {outcome}`"
    task = scope.declarations.tasks.get(name)
    if task is None:
        return TriggerInfo(identity, display, diagnostics=(unknown_task(trigger.task, scope),))
    fields = task.returns_types if outcome is Outcome.COMPLETED else FAILED_FIELDS
    return TriggerInfo(identity, display, OutcomeTriggerModel(name, outcome), fields, task=name)


def _timer_trigger(trigger: ast.TimerTrigger) -> TriggerInfo:
    # Timers are told apart by how long they wait, however it is spelled.
    identity = ("timer", trigger.duration.milliseconds)
    display = f"`after {trigger.duration.text}`"
    zero = tuple(positive_duration(trigger.duration, "a timer"))
    if zero:
        return TriggerInfo(identity, display, fields={}, is_timer=True, diagnostics=zero)
    model = TimerTriggerModel(trigger.duration.milliseconds)
    return TriggerInfo(identity, display, model, {}, is_timer=True)
