"""Helpers of the runtime tests: generated modules, a fake clock, task handlers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from types import ModuleType
from typing import Any

from event_sourcery import Event

from pmc.runtime import ProcessDefinition, ProcessState, TaskContext
from pmc.runtime.stores import ProcessStore, StoredEvent
from tests.codegen.support import compile_text, import_code
from tests.fake_clock import T0 as T0
from tests.fake_clock import FakeClock as FakeClock
from tests.runtime.processes import ORDER, QUICK, REMINDER, SEED, TALLY, UNTIMED


class Passing:
    """A store passing every call on to ``store``, but those a subclass defines."""

    def __init__(self, store: ProcessStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@cache
def compiled(text: str) -> ModuleType:
    """The generated module of ``text``, compiled and imported once per test session."""
    return import_code(compile_text(text))


def seed() -> ModuleType:
    return compiled(SEED)


def order() -> ModuleType:
    return compiled(ORDER)


def tally() -> ModuleType:
    return compiled(TALLY)


def reminder() -> ModuleType:
    return compiled(REMINDER)


def quick() -> ModuleType:
    return compiled(QUICK)


def untimed() -> ModuleType:
    return compiled(UNTIMED)


def path_of(module: ModuleType) -> str:
    """The file of a generated module, for another process to import."""
    assert module.__file__ is not None
    return module.__file__


def definition(module: ModuleType) -> ProcessDefinition:
    found: ProcessDefinition = module.DEFINITION
    return found


# ---- task handlers -----------------------------------------------------------------


class Calls:
    """Handler invocations, counted per (task id, attempt); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, int]] = []  # (task name, machine id, attempt)
        self.per_task: Counter[Any] = Counter()

    def add(self, task: str, ctx: TaskContext) -> None:
        with self._lock:
            self.log.append((task, ctx.machine_id, ctx.attempt))
            self.per_task[ctx.task_id] += 1

    def of(self, task: str) -> list[tuple[str, int]]:
        with self._lock:
            return [(machine_id, attempt) for name, machine_id, attempt in self.log if name == task]


Script = Callable[[str, int], None]  # (machine id, attempt) -> raise to fail


def succeed(machine_id: str, attempt: int) -> None:
    """The default behaviour: every attempt succeeds."""


def fail_first(times: int, only: Iterable[str] | None = None) -> Script:
    """Fail the first ``times`` attempts (of the given machine ids, or all)."""
    chosen = None if only is None else set(only)

    def script(machine_id: str, attempt: int) -> None:
        if attempt <= times and (chosen is None or machine_id in chosen):
            raise RuntimeError(f"{machine_id}: attempt {attempt} refused")

    return script


class RebaseTasks:
    """Handlers of RtRebase (the ``RtRebaseTasks`` protocol)."""

    def __init__(self, script: Script = succeed, delay: float = 0.0) -> None:
        self.calls = Calls()
        self.script = script
        self.delay = delay

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("CloseInstance", ctx)
        if self.delay:
            time.sleep(self.delay)
        self.script(ctx.machine_id, ctx.attempt)


class ReminderTasks:
    """RtReminder has no tasks: its protocol is empty."""


class OrderTasks:
    """Handlers of RtOrder; ``ship`` may block until ``release`` is set."""

    def __init__(self, ship_script: Script = succeed) -> None:
        self.calls = Calls()
        self.ship_script = ship_script
        self.shipping = threading.Event()  # set once a ship handler runs
        self.release: threading.Event | None = None

    def reserve(self, task: Any, ctx: TaskContext) -> Any:
        self.calls.add("Reserve", ctx)
        return {"reservation": f"res-{task.order_id}"}

    def ship(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("Ship", ctx)
        self.shipping.set()
        if self.release is not None:
            self.release.wait(10)
        self.ship_script(ctx.machine_id, ctx.attempt)


# ---- reading streams ----------------------------------------------------------------


def names(events: Iterable[StoredEvent | Event]) -> list[str]:
    return [type(e.event if isinstance(e, StoredEvent) else e).__name__ for e in events]


def of_type(events: Iterable[StoredEvent], name: str) -> list[Any]:
    return [e.event for e in events if type(e.event).__name__ == name]


def assert_well_formed(events: list[StoredEvent]) -> None:
    """Versions 1..n without gaps, and no event id twice."""
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert len({e.event_id for e in events}) == len(events)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)


def snapshot(state: ProcessState) -> dict[str, Any]:
    """A plain, comparable form of a state (its maps are read-only views)."""
    return {
        "instances": {m: dict(ids) for m, ids in state.instances.items()},
        "tasks": sorted(repr(task) for task in state.tasks.values()),
        "timers": sorted(repr(timer) for timer in state.timers.values()),
        "key": state.key,
        "version": state.version,
        "end": state.end,
        "end_reason": state.end_reason,
    }
