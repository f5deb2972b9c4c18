"""What the runtime tests run in another process: ``python -m tests.runtime.child CMD ...``.

- ``stuck-worker MODULE URL MARKER``: a worker whose handler writes MARKER and
  then hangs, to be killed mid-task;
- ``tick MODULE URL KEY WRITER COUNT``: handle COUNT ``Tick`` events for KEY;
- ``fold MODULE URL KEY``: print the state rebuilt from the stream, as JSON.

MODULE is the path of a generated module; it is imported under its file name.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from pmc.runtime import TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from pmc.runtime.worker import Worker
from tests.runtime.support import snapshot


def load(path: str) -> ModuleType:
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class StuckTasks:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.marker.write_text(f"{ctx.task_id} {ctx.attempt}", encoding="utf-8")
        time.sleep(600)


def stuck_worker(module: ModuleType, url: str, marker: str) -> None:
    tasks = StuckTasks(Path(marker))
    worker = Worker(module.DEFINITION, open_store(url), tasks, worker_id="doomed")
    worker.start()
    time.sleep(600)


def tick(module: ModuleType, url: str, key: str, writer: str, count: int) -> None:
    manager = ProcessManager(module.DEFINITION, open_store(url))
    for n in range(count):
        event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{writer}/{n}")
        manager.handle(module.Tick(tally_id=key, n=n), event_id)


def fold(module: ModuleType, url: str, key: str) -> None:
    manager = ProcessManager(module.DEFINITION, open_store(url))
    print(json.dumps(snapshot(manager.state(key)), default=str))


def main(argv: list[str]) -> None:
    command, module_path, url, *rest = argv
    module = load(module_path)
    match command:
        case "stuck-worker":
            stuck_worker(module, url, rest[0])
        case "tick":
            tick(module, url, rest[0], rest[1], int(rest[2]))
        case "fold":
            fold(module, url, rest[0])
        case _:
            raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
