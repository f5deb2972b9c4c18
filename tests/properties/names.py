"""Processes whose every name is drawn from the identifiers a generated module uses.

One fixed process shape (``SHAPE``) with a slot for each name: two machines
(one with many instances, one with a single instance), sync and async tasks
with and without results, a timer, outcome triggers, bindings from the event,
from a result, from ``machine_id`` and from ``key``, ``start on`` and
``cancel on``. Filled with names from :func:`identifier_pool`, a program
either gets a diagnostic about a name or must compile to a module that
``mypy --strict`` accepts and that runs end to end on the memory store
(:func:`run_end_to_end`).
"""

from __future__ import annotations

import ast
import builtins
import enum
import itertools
import re
import subprocess
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import event_sourcery

import pmc.runtime as rt
from pmc.compiler import check_source
from pmc.semantics.model import ProcessModel
from pmc.source import SourceFile
from tests.codegen.support import compile_text, import_code
from tests.codegen.test_golden import EXAMPLES, compile_example
from tests.properties.strategies import keywords

# The slots of SHAPE by the kind of name they hold.
KINDS: Mapping[str, tuple[str, ...]] = {
    "declaration": (
        "process",
        "start_event",
        "cancel_event",
        "sync_task",
        "next_task",
        "async_task",
        "many",
        "single",
    ),
    "field": (
        "key",
        "ids",
        "text",
        "sync_machine_id",
        "sync_key",
        "sync_result",
        "next_input",
        "async_input",
    ),
    "state": (
        "m_initial",
        "m_busy",
        "m_done",
        "m_failed",
        "s_initial",
        "s_first",
        "s_second",
        "s_done",
    ),
    "transition": (
        "m_start",
        "m_completed",
        "m_failed_on",
        "m_timer",
        "s_start",
        "s_next",
        "s_completed",
        "s_failed",
        "s_next_failed",
    ),
}
SLOTS: tuple[str, ...] = tuple(slot for slots in KINDS.values() for slot in slots)

SHAPE = """\
process {process} {{
    key {key}

    event {start_event} {{
        {key}: str
        {ids}: list[str]
        {text}: str = "text"
    }}

    event {cancel_event} {{
        {key}: str
    }}

    task {sync_task} sync {{
        {sync_machine_id}: str
        {sync_key}: str
        returns {{
            {sync_result}: str
        }}
    }}

    task {next_task} sync {{
        {next_input}: str
    }}

    task {async_task} async {{
        {async_input}: str
        retry 1
        timeout 1m
    }}

    machine {many} {{
        states {m_initial}, {m_busy}, {m_done}, {m_failed}
        initial {m_initial}
        final {m_done}, {m_failed}

        transition {m_start}: {m_initial} -> {m_busy} on {start_event}.{ids}
            run {async_task}({async_input} = event.{text})
        transition {m_completed}: {m_busy} -> {m_done} on {async_task} completed
        transition {m_failed_on}: {m_busy} -> {m_failed} on {async_task} failed
        transition {m_timer}: {m_busy} -> {m_failed} on after 1h
    }}

    machine {single} {{
        states {s_initial}, {s_first}, {s_second}, {s_done}
        initial {s_initial}
        final {s_done}

        transition {s_start}: {s_initial} -> {s_first} on {start_event}
            run {sync_task}({sync_machine_id} = machine_id, {sync_key} = key)
        transition {s_next}: {s_first} -> {s_second} on {sync_task} completed
            run {next_task}({next_input} = event.{sync_result})
        transition {s_failed}: {s_first} -> {s_done} on {sync_task} failed
        transition {s_completed}: {s_second} -> {s_done} on {next_task} completed
        transition {s_next_failed}: {s_second} -> {s_done} on {next_task} failed
    }}

    start on {start_event}
    cancel on {cancel_event}
    fail when any {many} in {m_failed}
}}
"""

# Names of none of the identifiers below: what a slot holds when it is not
# the one being varied.
PLAIN: Mapping[str, str] = {
    "process": "Zprocess",
    "start_event": "Zstarted",
    "cancel_event": "Zstopped",
    "sync_task": "Zsync",
    "next_task": "Znext",
    "async_task": "Zasync",
    "many": "Zmany",
    "single": "Zsingle",
    "key": "zkey",
    "ids": "zids",
    "text": "ztext",
    "sync_machine_id": "zmachine_id",
    "sync_key": "zkey_copy",
    "sync_result": "zresult",
    "next_input": "znext_input",
    "async_input": "zasync_input",
    "m_initial": "Zidle",
    "m_busy": "Zbusy",
    "m_done": "Zdone",
    "m_failed": "Zfailed",
    "s_initial": "Zidle",
    "s_first": "Zfirst",
    "s_second": "Zsecond",
    "s_done": "Zdone",
    "m_start": "zstart",
    "m_completed": "zcompleted",
    "m_failed_on": "zfailed",
    "m_timer": "ztimer",
    "s_start": "zstart",
    "s_next": "znext",
    "s_completed": "zcompleted",
    "s_failed": "zfailed",
    "s_next_failed": "znext_failed",
}

# The codes a name can earn in a program of SHAPE: syntax (a keyword where a
# name goes), names and duplicates, and collisions in the generated module.
NAME_CODES = ("PM000", "PM01", "PM07")


def render(names: Mapping[str, str]) -> str:
    return SHAPE.format_map({**PLAIN, **names})


# ---- the identifiers ---------------------------------------------------------------


def _identifiers(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        match node:
            case ast.Name(id=name) | ast.Attribute(attr=name) | ast.arg(arg=name):
                found.add(name)
            case ast.keyword(arg=str() as name):
                found.add(name)
            case ast.ClassDef(name=name) | ast.FunctionDef(name=name):
                found.add(name)
            case ast.alias(name=name, asname=alias):
                found |= {name.partition(".")[0], alias or name}
    return found


# What the generated module subclasses or calls into: their attributes are
# names a user's field, method or member could shadow.
_USED_CLASSES: tuple[type, ...] = (
    rt.InputEvent,
    rt.TaskInput,
    rt.TaskResult,
    rt.ProcessDefinition,
    rt.TransitionPlannedBase,
    rt.TaskContext,
    rt.Route,
    event_sourcery.Event,
    enum.StrEnum,
    typing.Protocol,
)


@cache
def _case_variants(name: str) -> set[str]:
    """``rt`` -> ``Rt``, ``RT``; ``task_context`` -> ``TaskContext``, ``TASK_CONTEXT``."""
    if not name.islower() or not name.isidentifier() or name.startswith("_"):
        return set()
    camel = "".join(part.capitalize() for part in name.split("_"))
    return {camel, name.upper()} - {name}


def identifier_pool() -> tuple[str, ...]:
    """Every identifier of the examples' generated modules, of the runtime
    modules they import and of the classes they build on; the builtins; and
    the keywords of the `.pm` language."""
    found: set[str] = set()
    for path in EXAMPLES:
        found |= _identifiers(ast.parse(compile_example(path)))
    # The names that become one of those once pmc derives a name from them:
    # a task `Rt` or `RT` is the method `rt`, a task `TaskFailure` the method
    # `task_failure`.
    found |= {variant for name in found for variant in _case_variants(name)}
    found |= set(dir(rt)) | set(rt.__all__)
    for cls in _USED_CLASSES:
        found |= set(dir(cls))
    found |= set(dir(builtins)) | keywords()
    return tuple(sorted(found - set(PLAIN.values())))


# ---- checking, compiling, running ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    text: str
    model: ProcessModel | None
    codes: tuple[str, ...]  # of the errors
    blamed: frozenset[str]  # the text each error points at (its first token)


def check(names: Mapping[str, str]) -> Checked:
    text = render(names)
    result = check_source(SourceFile("names.pm", text))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    lines = text.splitlines()
    blamed = frozenset(_first_token(lines[d.span.line - 1][d.span.column - 1 :]) for d in errors)
    return Checked(text, result.model, tuple(d.id for d in errors), blamed)


def _first_token(text: str) -> str:
    return re.match(r"\w*", text).group()  # type: ignore[union-attr]


def about_names(codes: Sequence[str]) -> bool:
    """Errors, each of them about a name."""
    return bool(codes) and all(code.startswith(NAME_CODES) for code in codes)


def some_about_names(codes: Sequence[str]) -> bool:
    """Errors, one at least about a name: two states of one name, say, also
    leave transitions that start from a final state."""
    return any(code.startswith(NAME_CODES) for code in codes)


def mypy_strict(paths: Sequence[Path], cache_dir: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on generated modules, in a subprocess (as a user runs it)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(cache_dir),
            *map(str, paths),
        ],
        cwd=paths[0].parent,
        capture_output=True,
        text=True,
        check=False,
    )


class _Handlers:
    """Task handlers with whatever method names the tasks get, recording inputs."""

    def __init__(self, methods: Mapping[str, Any]) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        for method, result in methods.items():
            setattr(self, method, self._handler(method, result))

    def _handler(self, method: str, result: Any) -> Any:
        def run(task: Any, ctx: rt.TaskContext) -> Any:
            self.calls.append((method, task.model_dump()))
            return result

        return run


_imported_processes: set[str] = set()
_fresh = itertools.count()


def _event_names_taken(module: ModuleType) -> bool:
    """Has a class of another module (another test's process of the same name,
    say) taken the event names of ``module``'s lifecycle events?"""
    ours = module.TransitionPlanned
    stack = list(event_sourcery.Event.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls is not ours and getattr(cls, "__event_name__", None) == ours.__event_name__:
            return True
    return False


def import_and_run(code: str, names: Mapping[str, str]) -> ModuleType:
    """Import the generated module and run it end to end.

    event-sourcery's registry of event classes is global and keeps the first
    class it saw under each ``__event_name__``; a second module for a process
    of the same name would run with the first one's classes. Such a module
    is imported, then run under a fresh process name.
    """
    module = import_code(code)
    process = names.get("process", PLAIN["process"])
    if process not in _imported_processes and not _event_names_taken(module):
        _imported_processes.add(process)
        run_end_to_end(module, names)
        return module
    renamed = {**names, "process": f"Zfresh{next(_fresh)}"}
    _imported_processes.add(renamed["process"])
    run_end_to_end(import_code(compile_text(render(renamed))), renamed)
    return module


def run_end_to_end(module: ModuleType, names: Mapping[str, str]) -> None:
    """Start an instance, run every task, and see the process complete."""
    from pmc.naming import task_method_name
    from pmc.runtime.stores import MemoryStore

    n = {**PLAIN, **names}
    definition: rt.ProcessDefinition = module.DEFINITION
    handlers = _Handlers(
        {
            task_method_name(n["sync_task"]): {n["sync_result"]: "from sync"},
            task_method_name(n["next_task"]): None,
            task_method_name(n["async_task"]): None,
        }
    )
    store = MemoryStore()
    manager = rt.ProcessManager(definition, store, handlers)
    event_class = getattr(module, n["start_event"])
    event = event_class.model_validate({n["key"]: "k1", n["ids"]: ["a", "b"]})

    manager.handle(event)
    rt.Worker(definition, store, handlers).drain()

    state = manager.state("k1")
    assert state.end == "completed", (state.end, state.end_reason)
    assert dict(state.instances[n["many"]]) == {"a": n["m_done"], "b": n["m_done"]}
    assert dict(state.instances[n["single"]]) == {n["single"]: n["s_done"]}
    calls = sorted(handlers.calls)
    assert calls == sorted(
        [
            (
                task_method_name(n["sync_task"]),
                {n["sync_machine_id"]: n["single"], n["sync_key"]: "k1"},
            ),
            (task_method_name(n["next_task"]), {n["next_input"]: "from sync"}),
            (task_method_name(n["async_task"]), {n["async_input"]: "text"}),
            (task_method_name(n["async_task"]), {n["async_input"]: "text"}),
        ]
    )
