"""Assembles the :class:`ProcessModel` from parts that all resolved without error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pmc.semantics.declarations import Declarations, FieldInfo
from pmc.semantics.model import (
    AllFinalCondition,
    AllInCondition,
    AnyInCondition,
    EventModel,
    FieldModel,
    KeyModel,
    MachineModel,
    ProcessModel,
    TaskModel,
)
from pmc.syntax import ast


def _fields(fields: Mapping[str, FieldInfo]) -> tuple[FieldModel, ...]:
    models = tuple(f.model for f in fields.values())
    assert all(m is not None for m in models), "built with an unresolved field"
    return tuple(m for m in models if m is not None)


def build_model(
    process: ast.Process,
    key: KeyModel,
    declarations: Declarations,
    machines: Iterable[MachineModel],
    start_events: tuple[ast.Name, ...] | None,
    cancel_events: tuple[ast.Name, ...],
    complete_when: tuple[AllFinalCondition | AllInCondition, ...] | None,
    fail_when: tuple[AnyInCondition, ...],
) -> ProcessModel:
    machine_models = tuple(machines)
    events = tuple(
        EventModel(name, _fields(info.fields), info.decl.name.span)
        for name, info in declarations.events.items()
    )
    tasks = tuple(
        TaskModel(
            name,
            info.mode,
            _fields(info.fields),
            _fields(info.returns),
            info.retry,
            info.timeout_ms,
            info.decl.name.span,
            info.decl.mode_span,
        )
        for name, info in declarations.tasks.items()
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
    )
