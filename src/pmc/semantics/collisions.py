"""PM0701: names that would clash in the generated module.

The generated names come from :mod:`pmc.naming`, the functions codegen uses,
so this check and the output cannot drift apart.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic, Label
from pmc.naming import (
    LIFECYCLE_EVENTS,
    MODULE_RESERVED,
    PYTHON_BUILTINS,
    SIGNAL_RAISED,
    data_model_name,
    result_model_name,
    state_enum_name,
    task_method_name,
    tasks_protocol_name,
)
from pmc.source import Span
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class _Generated:
    """A top-level name the generated module derives from a declaration."""

    name: str
    origin: str
    span: Span


def _generated_names(process: ast.Process) -> dict[str, _Generated]:
    pname = process.name.text
    generated = [
        _Generated(
            tasks_protocol_name(pname), f"the tasks protocol of `{pname}`", process.name.span
        )
    ]
    generated += [
        _Generated(
            state_enum_name(m.name.text), f"the state enum of machine `{m.name.text}`", m.name.span
        )
        for m in process.machines
    ]
    # Only a task that returns something gets a result model (see TaskModel.returns).
    generated += [
        _Generated(
            result_model_name(t.name.text), f"the result model of task `{t.name.text}`", t.name.span
        )
        for t in process.tasks
        if t.returns and t.returns[0].fields
    ]
    if process.data_blocks:
        generated.append(
            _Generated(data_model_name(pname), f"the `data` record of `{pname}`", process.name.span)
        )
    generated += [
        _Generated(
            data_model_name(m.name.text),
            f"the `data` record of machine `{m.name.text}`",
            m.name.span,
        )
        for m in process.machines
        if m.data_blocks
    ]
    if process.signals:
        generated.append(
            _Generated(
                SIGNAL_RAISED, "the lifecycle event of signals", process.signals[0].name.span
            )
        )
    table: dict[str, _Generated] = {}
    for entry in generated:
        table.setdefault(entry.name, entry)
    return table


def _classes(process: ast.Process) -> list[tuple[ast.Name, str]]:
    """The user's declarations that are module-level names as written, with their kind."""
    declared: list[tuple[ast.Name, str]] = [(process.name, "process")]
    declared += [(e.name, "event") for e in process.events]
    declared += [(t.name, "task") for t in process.tasks]
    declared += [(s.name, "signal") for s in process.signals]
    return declared


def collision_diagnostics(process: ast.Process) -> Iterator[Diagnostic]:
    yield from _reserved(process)
    yield from _builtins(process)
    yield from _clashes(process)
    yield from _data_records(process)
    yield from _method_names(process)


def _reserved(process: ast.Process) -> Iterator[Diagnostic]:
    declared = [*_classes(process), *((m.name, "machine") for m in process.machines)]
    for name, kind in declared:
        if name.text in MODULE_RESERVED:
            what = (
                "a lifecycle event the generated module defines"
                if name.text in LIFECYCLE_EVENTS
                else "a name the generated module imports or defines"
            )
            yield Diagnostic(
                "PM0701",
                f"{kind} name `{name.text}` collides with the generated module",
                name.span,
                label=f"`{name.text}` is {what}",
                help=f"rename the {kind}",
            )


def _builtins(process: ast.Process) -> Iterator[Diagnostic]:
    """Module-level names of the generated module that would shadow a Python builtin.

    Machines are not among them: a machine becomes ``<Machine>State``.
    """
    for name, kind in _classes(process):
        if name.text in PYTHON_BUILTINS:
            yield Diagnostic(
                "PM0701",
                f"{kind} name `{name.text}` shadows a Python builtin in the generated module",
                name.span,
                label=f"`{name.text}` is a Python builtin the generated module uses",
                help=f"rename the {kind}",
            )
    for entry in _generated_names(process).values():
        if entry.name in PYTHON_BUILTINS:
            yield Diagnostic(
                "PM0701",
                f"{entry.origin} would be named `{entry.name}`, which shadows a Python builtin",
                entry.span,
                label=f"`{entry.name}` is a Python builtin the generated module uses",
                help="rename the declaration",
            )


def _clashes(process: ast.Process) -> Iterator[Diagnostic]:
    """User classes against the process class and the generated classes.

    Events and tasks against each other are PM0101: they share one namespace.
    """
    generated = _generated_names(process)
    classes = [(name, f"{kind} `{name.text}`") for name, kind in _classes(process)]
    for name, origin in classes:
        clash = generated.get(name.text)
        if clash is not None:
            yield _clash(name, origin, clash.origin, clash.span)
        elif name is not process.name and name.text == process.name.text:
            yield _clash(name, origin, "the process class", process.name.span)


def _data_records(process: ast.Process) -> Iterator[Diagnostic]:
    """A machine named like its process: with both declaring `data`, one record name."""
    if not process.data_blocks:
        return
    for machine in process.machines:
        if machine.name.text == process.name.text and machine.data_blocks:
            name = data_model_name(machine.name.text)
            yield Diagnostic(
                "PM0701",
                f"`{name}` would be defined twice in the generated module",
                machine.data_blocks[0].span,
                label=f"the `data` of machine `{machine.name.text}` becomes the class `{name}`",
                labels=(Label(process.data_blocks[0].span, "so does the process's `data`"),),
                help="rename the machine",
            )


def _clash(name: ast.Name, origin: str, other: str, other_span: Span) -> Diagnostic:
    return Diagnostic(
        "PM0701",
        f"`{name.text}` would be defined twice in the generated module",
        name.span,
        label=f"{origin} becomes the class `{name.text}`",
        labels=(Label(other_span, f"{other} is also named `{name.text}`"),),
        help="rename one of them",
    )


def _method_names(process: ast.Process) -> Iterator[Diagnostic]:
    methods: dict[str, ast.Name] = {}
    protocol = tasks_protocol_name(process.name.text)
    for task in process.tasks:
        method = task_method_name(task.name.text)
        if keyword.iskeyword(method):
            yield Diagnostic(
                "PM0701",
                f"task `{task.name.text}` would become the method `{method}`, a Python keyword",
                task.name.span,
                label=f"method `{method}` of `{protocol}`",
                help="rename the task",
            )
        earlier = methods.setdefault(method, task.name)
        if earlier is not task.name and earlier.text != task.name.text:
            yield Diagnostic(
                "PM0701",
                f"tasks `{earlier.text}` and `{task.name.text}` would both become the method "
                f"`{method}` of `{protocol}`",
                task.name.span,
                label=f"becomes `{method}`",
                labels=(Label(earlier.span, f"also becomes `{method}`"),),
                help="rename one of the tasks",
            )
