"""A worker on a machine whose clock is off, for the clock-skew tests.

``faketime -f +5m python -m tests.runtime.skewed MODULE URL DIR`` opens the
store, writes ``DIR/ready`` (holding this process's own idea of the time),
waits for ``DIR/go``, runs a worker (writing ``DIR/started``) until
``DIR/stop`` appears, then stops it. Every task attempt its handlers run is
appended to ``DIR/runs`` as ``task machine_id attempt``; they all succeed.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from pmc.runtime import TaskContext
from pmc.runtime.stores import open_store
from pmc.runtime.worker import Worker
from tests.fake_clock import without_sleep
from tests.runtime.child import load

POLL = 0.01


class Tasks:
    """Handlers of the clock-skew processes: each attempt is written down and succeeds."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.lock = threading.Lock()

    def work(self, task: object, ctx: TaskContext) -> None:
        self._ran("Work", ctx)

    def flaky(self, task: object, ctx: TaskContext) -> None:
        self._ran("Flaky", ctx)

    def _ran(self, name: str, ctx: TaskContext) -> None:
        with self.lock, self.runs.open("a", encoding="utf-8") as runs:
            runs.write(f"{name} {ctx.machine_id} {ctx.attempt}\n")


def wait_for(path: Path) -> None:
    pause = threading.Event()
    while not path.exists():
        pause.wait(POLL)


def main(module_path: str, url: str, directory: str) -> None:
    without_sleep()
    here = Path(directory)
    module = load(module_path)
    store = open_store(url)
    worker = Worker(module.DEFINITION, store, Tasks(here / "runs"), worker_id="skewed")
    store.now()  # the first reading of the store's clock, before the test starts
    (here / "ready").write_text(datetime.now(UTC).isoformat(), encoding="utf-8")
    wait_for(here / "go")
    worker.start()
    (here / "started").write_text("", encoding="utf-8")
    wait_for(here / "stop")
    worker.stop(grace=10)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
