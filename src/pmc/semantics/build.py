"""Assembles the :class:`ProcessModel` from parts that all resolved without error."""

from __future__ import annotations

from collections.abc import Iterable

from pmc.semantics.declarations import Declarations, field_models
from pmc.semantics.model import (
    AllFinalCondition,
    AllInCondition,
    AnyInCondition,
    EventModel,
    ExprModel,
    KeyModel,
    MachineModel,
    ProcessModel,
    SignalModel,
    TaskModel,
)
from pmc.syntax import ast


def build_model(
    process: ast.Process,
    key: KeyModel,
    declarations: Declarations,
    machines: Iterable[MachineModel],
    start_events: tuple[ast.Name, ...] | None,
    cancel_events: tuple[ast.Name, ...],
    complete_when: tuple[AllFinalCondition | AllInCondition, ...] | None,
    fail_when: tuple[AnyInCondition, ...],
    complete_data: ExprModel | None = None,
    fail_data: ExprModel | None = None,
) -> ProcessModel:
    machine_models = tuple(machines)
    events = tuple(
        EventModel(name, field_models(info.fields), info.decl.name.span)
        for name, info in declarations.events.items()
    )
    tasks = tuple(
        TaskModel(
            name,
            info.mode,
            field_models(info.fields),
            field_models(info.returns),
            info.retry,
            info.timeout_ms,
            info.decl.name.span,
            info.decl.mode_span,
        )
        for name, info in declarations.tasks.items()
    )
    signals = tuple(
        SignalModel(name, field_models(info.fields), info.decl.name.span)
        for name, info in declarations.signals.items()
    )
    if complete_when is None:
        # The default completion: every instance of every machine is final.
        complete_when = tuple(AllFinalCondition(m.name) for m in machine_models)
    return ProcessModel(
        name=process.name.text,
        key=key,
        events=events,
        tasks=tasks,
        machines=machine_models,
        start_events=None if start_events is None else tuple(n.text for n in start_events),
        complete_when=complete_when,
        fail_when=fail_when,
        cancel_events=tuple(n.text for n in cancel_events),
        span=process.name.span,
        data=field_models(declarations.data),
        signals=signals,
        complete_data=complete_data,
        fail_data=fail_data,
    )
