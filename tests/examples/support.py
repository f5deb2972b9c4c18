"""Running an example end to end: its module, its handlers, and the checks of a replay.

Each example is compiled from ``examples/`` under a name of its own
(``E2e...``): event-sourcery keeps one class per event name for the whole
interpreter, and other tests compile the examples too.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from pmc.runtime import ProcessState, TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore, StoredEvent
from pmc.runtime.worker import Worker
from pmc.streams.replay import replay, store_streams
from tests.fake_clock import FakeClock
from tests.runtime.support import compiled, definition, path_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> ModuleType:
    """The generated module of ``examples/NAME.pm``, its process renamed ``E2e<Process>``."""
    text = (EXAMPLES / f"{name}.pm").read_text(encoding="utf-8")
    return compiled(text.replace("process ", "process E2e", 1))


def deployed(
    module: ModuleType, store: ProcessStore, tasks: object
) -> tuple[ProcessManager, Worker]:
    """A manager and a worker of ``module`` on ``store``, both running ``tasks``."""
    manager = ProcessManager(definition(module), store, tasks, with_worker=True)
    return manager, Worker(definition(module), store, tasks, worker_id="w1")


def time_passes(clock: FakeClock, worker: Worker, **delta: float) -> None:
    """Move the stores' clock, then do all the work that is due."""
    clock.advance(**delta)
    worker.drain()


class Recorded:
    """Task inputs the handlers were called with, in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (task, machine id, input)

    def add(self, name: str, task: Any, ctx: TaskContext) -> None:
        self.calls.append((name, ctx.machine_id, task.model_dump(mode="json")))

    def of(self, name: str) -> list[dict[str, Any]]:
        return [given for task, _, given in self.calls if task == name]

    def tasks(self) -> list[str]:
        return [task for task, _, _ in self.calls]


def run_task(
    manager: ProcessManager, key: str | int, task: str, machine_id: str | None = None
) -> None:
    """Run the one attempt of ``task`` now (of ``machine_id``'s instance), ahead of the rest."""
    [found] = [
        t
        for t in manager.state(key).tasks.values()
        if t.task == task and machine_id in (None, t.machine_id)
    ]
    manager.run_attempt(str(key), found, "test", timedelta(minutes=1))  # takes the stream key


def events_named(history: Iterable[StoredEvent], name: str) -> list[Any]:
    return [e.event for e in history if type(e.event).__name__ == name]


def planned(history: Iterable[StoredEvent]) -> list[tuple[str, str, str]]:
    """``(machine, machine_id, transition)`` of every ``TransitionPlanned``, in order."""
    return [
        (p.machine, p.machine_id, p.transition) for p in events_named(history, "TransitionPlanned")
    ]


def signals(history: Iterable[StoredEvent]) -> list[tuple[str, dict[str, Any], str, str]]:
    """``(signal, payload, machine_id, transition)`` of every ``SignalRaised``, in order."""
    return [
        (s.signal, s.payload, s.machine_id, s.transition)
        for s in events_named(history, "SignalRaised")
    ]


def signal_ids(history: Iterable[StoredEvent]) -> list[Any]:
    """The stored ids of the ``SignalRaised`` events: the ``caused_by`` of what they caused."""
    return [e.event_id for e in history if type(e.event).__name__ == "SignalRaised"]


def assert_replay_agrees(
    module: ModuleType, manager: ProcessManager, key: str | int
) -> ProcessState:
    """The stream folds to the state the manager decided on, through every replay path."""
    state = manager.state(key)
    assert manager.replay(key) == state
    streams = store_streams(manager.store, manager.category, [str(key)])
    report = replay(definition(module), streams)
    assert report.ok, report.findings
    assert [s.state for s in report.streams] == [state]
    return state


def assert_pmc_replay_agrees(module: ModuleType, store_url: str) -> None:
    """``pmc replay MODULE:PROCESS --store URL``, run as a CI job runs it, finds nothing."""
    process = definition(module).category
    module_path = Path(path_of(module))
    command = ["replay", f"{module_path.stem}:{process}", "--store", store_url]
    done = subprocess.run(
        [sys.executable, "-m", "pmc", *command],
        cwd=module_path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert done.stderr.startswith("replayed 1 stream"), done.stderr
    assert done.stderr.endswith(", 0 failures\n"), done.stderr
