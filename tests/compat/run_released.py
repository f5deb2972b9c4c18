"""Run a released module end to end: ``python -m tests.compat.run_released PATH``.

A fresh interpreter, because event-sourcery registers event classes by their
``__event_name__`` once per process: in the test session, the examples
compiled by other tests may already hold the names this module's classes use.
Prints the event types of the stream, one per line.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pmc.runtime import TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from pmc.runtime.worker import Worker


class CloseTasks:
    """The ``RebaseCleanupTasks`` protocol: every close succeeds."""

    def close_instance(self, task: object, ctx: TaskContext) -> None:
        pass


def import_released(path: str) -> ModuleType:
    """The generated module at ``path``, imported under its file's name."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(path: str) -> None:
    module = import_released(path)
    store = open_store("memory://")
    manager = ProcessManager(module.DEFINITION, store)
    manager.handle(module.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    Worker(module.DEFINITION, store, CloseTasks(), worker_id="w1").drain()
    for event in manager.history("r1"):
        print(type(event.event).__name__)


if __name__ == "__main__":
    main(sys.argv[1])
