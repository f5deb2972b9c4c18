"""Transition triggers: resolution against the declared events and tasks."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics.declarations import EventInfo, positive_duration
from pmc.semantics.model import (
    EventTriggerModel,
    Outcome,
    OutcomeTriggerModel,
    SelectorTriggerModel,
    TimerTriggerModel,
    TriggerModel,
    ValueType,
)
from pmc.semantics.scope import Scope
from pmc.semantics.suggest import did_you_mean
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
    task: str | None = None  # the task whose outcome this is, if it resolved
    is_timer: bool = False
    diagnostics: tuple[Diagnostic, ...] = field(default=())


def resolve_trigger(trigger: ast.Trigger, scope: Scope) -> TriggerInfo:
    if isinstance(trigger, ast.EventTrigger):
        return _event_trigger(trigger, scope)
    if isinstance(trigger, ast.SelectorTrigger):
        return _selector_trigger(trigger, scope)
    if isinstance(trigger, ast.OutcomeTrigger):
        return _outcome_trigger(trigger, scope)
    return _timer_trigger(trigger)


def _event_trigger(trigger: ast.EventTrigger, scope: Scope) -> TriggerInfo:
    name = trigger.event.text
    identity = ("event", name)
    event = scope.declarations.events.get(name)
    if event is None:
        return TriggerInfo(
            identity, f"`{name}`", diagnostics=(unknown_event(trigger.event, scope),)
        )
    return TriggerInfo(
        identity,
        f"`{name}`",
        EventTriggerModel(name),
        event.field_types,
        event=trigger.event,
    )


def _selector_trigger(trigger: ast.SelectorTrigger, scope: Scope) -> TriggerInfo:
    name = trigger.event.text
    # An event fires once however a machine selects its instances, so the
    # selector field is not part of the trigger's identity.
    identity = ("event", name)
    display = f"`{name}`"
    event = scope.declarations.events.get(name)
    if event is None:
        return TriggerInfo(identity, display, diagnostics=(unknown_event(trigger.event, scope),))
    fields = event.field_types
    selector = event.fields.get(trigger.field.text)
    if selector is None:
        unknown = Diagnostic(
            "PM0204",
            f"unknown field `{trigger.field.text}` on event `{name}`",
            trigger.field.span,
            label=f"not a field of event `{name}`",
            help=did_you_mean(trigger.field.text, event.fields),
        )
        return TriggerInfo(identity, display, None, fields, trigger.event, diagnostics=(unknown,))
    if selector.type is None:  # the field's type is already reported
        return TriggerInfo(identity, display, None, fields, trigger.event)
    fan_out = selector_fan_out(selector.type)
    if fan_out is None:
        return TriggerInfo(
            identity,
            display,
            None,
            fields,
            trigger.event,
            diagnostics=(_bad_selector(trigger, event, selector.type),),
        )
    model = SelectorTriggerModel(name, trigger.field.text, fan_out)
    return TriggerInfo(identity, display, model, fields, trigger.event)


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
