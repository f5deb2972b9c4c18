"""Names of what the generated module defines.

Semantics uses these to reject ``.pm`` names that would collide in the
generated module (PM0701); codegen uses the same functions to name things,
so the check and the output cannot drift apart.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Sequence
from enum import StrEnum


class Lifecycle(StrEnum):
    """The lifecycle events every generated module defines, in its order."""

    TRANSITION_PLANNED = "TransitionPlanned"
    TASK_STARTED = "TaskStarted"
    TASK_COMPLETED = "TaskCompleted"
    TASK_FAILED = "TaskFailed"
    TASK_RETRY_SCHEDULED = "TaskRetryScheduled"
    TASK_TIMED_OUT = "TaskTimedOut"
    TIMER_SCHEDULED = "TimerScheduled"
    TIMER_FIRED = "TimerFired"
    PROCESS_COMPLETED = "ProcessCompleted"
    PROCESS_FAILED = "ProcessFailed"
    PROCESS_CANCELLED = "ProcessCancelled"


LIFECYCLE_EVENTS: tuple[str, ...] = tuple(event.value for event in Lifecycle)

# Names the generated module imports or defines besides the user's classes.
# Keep in step with templates/module.py.jinja.
MODULE_RESERVED: frozenset[str] = frozenset(
    {
        "Any",
        "BaseModel",
        "ClassVar",
        "Decimal",
        "Event",
        "Literal",
        "Protocol",
        "StrEnum",
        "UUID",
        "annotations",
        "date",
        "datetime",
        "rt",
        "TaskContext",
        "DEFINITION",
    }
    | set(LIFECYCLE_EVENTS)
)

# Every public name of Python's ``builtins`` module. A module-level name of
# the generated module (an event, a task, a task's result model, the process
# class, the tasks protocol, a state enum) equal to one would shadow a
# builtin the generated code and pydantic rely on: an event named `list`
# breaks every `list[...]` annotation. The names ``site`` adds (`exit`,
# `help`, ...) are listed too, so ``python -S`` does not change the answer.
PYTHON_BUILTINS: frozenset[str] = frozenset(
    {name for name in dir(builtins) if not name.startswith("_")}
    | {"copyright", "credits", "exit", "help", "license", "quit"}
)

# Python's soft keywords on every version pmc supports: `type` became one in
# 3.12, and the language a `.pm` file may use must not depend on the
# interpreter that checks it (``keyword.softkwlist`` on 3.11 lacks `type`).
SOFT_KEYWORDS: frozenset[str] = frozenset({"_", "case", "match", "type"})

# Names pycodestyle finds ambiguous as a variable, class or function (E741,
# E742, E743): generated code passes ruff's `E` rules, so the names that are
# Python names as they are (a process, event, task, state or field) may not be
# one. A machine `O` is the class `OState`, a transition `O` a string: fine.
AMBIGUOUS_NAMES: frozenset[str] = frozenset({"l", "O", "I"})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def invalid_identifier_reason(name: str) -> str | None:
    """Why ``name`` cannot become a Python identifier, or None if it can."""
    if not _IDENTIFIER.match(name):
        return "is not an ASCII identifier"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in SOFT_KEYWORDS or keyword.issoftkeyword(name):
        return "is a Python soft keyword"
    if name.startswith("_"):
        return "starts with `_`, which Python and pydantic treat as private"
    return None


def ambiguous_name_reason(name: str) -> str | None:
    """Why ``name`` fails pycodestyle as a class, enum member or field, or None."""
    if name in AMBIGUOUS_NAMES:
        return "is ambiguous: `l`, `O` and `I` read as `1` and `0` (pycodestyle E741, E742)"
    return None


def snake_case(name: str) -> str:
    """``CloseInstance`` -> ``close_instance``; ``HTTPCall`` -> ``http_call``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def state_enum_name(machine: str) -> str:
    return f"{machine}State"


def result_model_name(task: str) -> str:
    return f"{task}Result"


def data_model_name(owner: str) -> str:
    """The record of a process's or a machine's ``data`` block: ``<Owner>Data``."""
    return f"{owner}Data"


# The lifecycle event a module with signals defines (only then).
SIGNAL_RAISED = "SignalRaised"


def tasks_protocol_name(process: str) -> str:
    return f"{process}Tasks"


def task_method_name(task: str) -> str:
    return snake_case(task)


def event_type_name(process: str, name: str) -> str:
    """The stored ``__event_name__``: stable however the module is moved."""
    return f"{process}.{name}"


def lifecycle_base_name(event: str) -> str:
    """The runtime's base class of a lifecycle event (``pmc.runtime.lifecycle``)."""
    return f"{event}Base"


def binder_names(
    runs: Sequence[tuple[str, str]], clause: str = "bind"
) -> dict[tuple[str, str], str]:
    """The binding function of each (machine, transition) that runs a task.

    ``_bind_<transition>``; where two machines have a transition of that
    name, ``_bind_<machine>_<transition>``; and a number where that still
    collides (a machine `M` with `x_y`, another `MX` with `y`...). The
    functions of the other clauses of a transition (``clause``: ``when``,
    ``set``, ``emit``, ``at``) are named the same way: ``_when_<transition>``.
    """
    counts: dict[str, int] = {}
    for _, transition in runs:
        counts[transition] = counts.get(transition, 0) + 1
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for machine, transition in runs:
        base = f"_{clause}_{transition}"
        if counts[transition] > 1:
            base = f"_{clause}_{snake_case(machine)}_{transition}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names[(machine, transition)] = name
    return names
