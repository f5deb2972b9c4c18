"""The process the operator action tests operate, its handlers, and a started ticket."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from pmc.runtime import ProcessDefinition, ProcessManager, TaskContext, Worker
from pmc.runtime.operations import Operations
from pmc.runtime.stores import ProcessStore
from tests.runtime.support import Calls, Script, compiled, succeed

FIXTURES = Path(__file__).parent / "fixtures"
DESK_SOURCE = (FIXTURES / "desk.pm").read_text(encoding="utf-8")


def desk() -> ModuleType:
    """The generated module of ``fixtures/desk.pm``, imported once per test session."""
    return compiled(DESK_SOURCE)


def desk_definition() -> ProcessDefinition:
    found: ProcessDefinition = desk().DEFINITION
    return found


class DeskTasks:
    """Handlers of OpDesk; each task's attempts fail as its script says."""

    def __init__(self, notify: Script = succeed, close: Script = succeed) -> None:
        self.calls = Calls()
        self.notify_script = notify
        self.close_script = close

    def notify(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("Notify", ctx)
        self.notify_script(ctx.machine_id, ctx.attempt)

    def close(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("Close", ctx)
        self.close_script(ctx.machine_id, ctx.attempt)


class Desk:
    """One store with OpDesk's manager, a worker running ``tasks``, and its operations."""

    def __init__(self, store: ProcessStore, tasks: DeskTasks | None = None) -> None:
        self.module = desk()
        self.definition = desk_definition()
        self.store = store
        self.tasks = tasks or DeskTasks()
        self.manager = ProcessManager(self.definition, store)
        self.worker = Worker(self.definition, store, self.tasks)
        self.ops = Operations(self.definition, store)

    def open(self, key: str = "t1", hosts: tuple[str, ...] = ()) -> None:
        self.manager.handle(self.module.Opened(ticket_id=key, hosts=list(hosts)))

    def names(self, key: str = "t1") -> list[str]:
        return [type(stored.event).__name__ for stored in self.manager.history(key)]
