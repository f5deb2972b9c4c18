"""A machine's transitions: sources, target, trigger and task run, resolved."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, Label
from pmc.semantics.bindings import RunInfo, resolve_run
from pmc.semantics.declarations import identifier_diagnostics
from pmc.semantics.model import ListType, SelectorTriggerModel, ValueType
from pmc.semantics.scope import Scope
from pmc.semantics.states import StateTable
from pmc.semantics.triggers import TriggerInfo, resolve_trigger
from pmc.semantics.types import type_text
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class TransitionInfo:
    decl: ast.Transition
    explicit: tuple[str, ...]  # declared explicit sources, in order
    target: str | None  # None: unknown (already reported)
    trigger: TriggerInfo
    run: RunInfo | None
    resolved: bool  # every state it names is declared

    @property
    def outcome_task(self) -> str | None:
        if isinstance(self.decl.trigger, ast.OutcomeTrigger):
            return self.trigger.task
        return None

    @property
    def modelled(self) -> bool:
        """Whether trigger and run resolved to their models."""
        run_ok = self.run is None or self.run.model is not None
        return self.trigger.model is not None and run_ok

    @property
    def runs(self) -> str | None:
        return None if self.run is None else self.run.task


def resolve_transition(
    transition: ast.Transition, table: StateTable, scope: Scope
) -> tuple[TransitionInfo, list[Diagnostic]]:
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
    trigger = resolve_trigger(transition.trigger, scope)
    found.extend(trigger.diagnostics)
    run = None
    if transition.run is not None:
        run = resolve_run(transition.run, trigger, scope)
        found.extend(run.diagnostics)
    info = TransitionInfo(
        transition, tuple(dict.fromkeys(explicit)), target, trigger, run, resolved
    )
    return info, found


def _leaves_final(transition: ast.Transition, source: ast.Name) -> Diagnostic:
    return Diagnostic(
        "PM0303",
        f"transition `{transition.name.text}` leaves final state `{source.text}`",
        source.span,
        label=f"`{source.text}` is final",
        help=f"an instance in a final state is done; remove `{source.text}` from the sources "
        "or from `final`",
    )


def selector_and_broadcast(machine: ast.MachineDecl) -> Iterator[Diagnostic]:
    """PM0407: one event cannot both select a machine's instances and broadcast to them.

    The event's route would have to be either the ids in its field (which may
    create instances) or every existing instance (which never does).
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
        yield Diagnostic(
            "PM0407",
            f"machine `{machine.name.text}` uses `{event}` both with and without a selector",
            trigger.span,
            label=f"selects instances by `{trigger.field.text}`",
            labels=(Label(plain[event].span, "addresses every existing instance"),),
            help=f"use `{event}.{trigger.field.text}` on every transition of this machine on "
            f"`{event}`, or declare another event for the broadcast",
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
    if not isinstance(trigger, ast.SelectorTrigger) or not isinstance(model, SelectorTriggerModel):
        return None
    value_type = None if fields is None else fields.get(trigger.field.text)
    return value_type.item if isinstance(value_type, ListType) else value_type


def _selector_text(trigger: ast.SelectorTrigger) -> str:
    return f"{trigger.event.text}.{trigger.field.text}"
