"""The process the replay tests record, its changed versions, and helpers to edit records.

Streams are recorded once with ``RpCleanup`` (BASE) by the real runtime. A
changed version keeps the process name (the stream category and the event
names), so it is compiled into a module of its own and never writes: replay
reads records through the definition's own classes, not event-sourcery's
registry, which keeps only the first class per event name. BASE is compiled
when this module is imported, so its classes are always the ones registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from types import ModuleType
from typing import Any

from pmc.diagnostics import Diagnostic, StreamPosition
from pmc.runtime import ProcessDefinition, ProcessManager, Worker
from pmc.runtime.definition import TaskContext
from pmc.runtime.stores import ProcessStore
from pmc.streams.export import ExportedEvent
from tests.codegen.support import compile_text, import_code

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# Instances named in FAILING fail every attempt (one retry, then `give_up`).
BASE = """
process RpCleanup {
    key rebase_id

    event RebaseFailed {
        rebase_id: str
        instances: list[str]
        reason: str = "rebase failed"
    }

    task CloseInstance async {
        reason: str
        retry 1
    }

    machine Instance {
        states Working, Closing, Closed, Failed
        initial Working
        final Closed, Failed

        transition close: Working -> Closing on RebaseFailed.instances
            run CloseInstance(reason = event.reason)
        transition closed: Closing -> Closed on CloseInstance completed
        transition give_up: Closing -> Failed on CloseInstance failed
    }

    complete when all Instance final
    fail when any Instance in Failed
}
"""

FAILING = frozenset({"C"})

# What the recorded streams hold, for tests that name a version: r1 closes A
# and B; r2 closes C, which fails twice and gives up.
RECORDED_INPUTS = (("r1", ("A", "B")), ("r2", ("C",)))


def edit(*replacements: tuple[str, str]) -> str:
    """BASE with each (old, new) replaced; every old text must occur."""
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


@cache
def compiled(text: str) -> ModuleType:
    return import_code(compile_text(text, name="rp_cleanup.pm"))


def definition(text: str = BASE) -> ProcessDefinition:
    found: ProcessDefinition = compiled(text).DEFINITION
    return found


class CleanupTasks:
    """Handlers of RpCleanup: instances in FAILING always fail."""

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        if ctx.machine_id in FAILING:
            raise RuntimeError(f"cannot close {ctx.machine_id}")


class FixedClock:
    def __call__(self) -> datetime:
        return T0


def record_streams(store: ProcessStore) -> None:
    """Run BASE on ``store`` until every task is done: the streams of RECORDED_INPUTS.

    Events are stamped with the store's clock: a store opened with
    ``clock=FixedClock()`` records them all at T0.
    """
    module = compiled(BASE)
    manager = ProcessManager(definition(), store)
    for key, instances in RECORDED_INPUTS:
        manager.handle(module.RebaseFailed(rebase_id=key, instances=list(instances)))
    Worker(definition(), store, CleanupTasks(), worker_id="w1").drain()


compiled(BASE)  # first: see the module docstring


# ---- editing records --------------------------------------------------------------------


def at(events: Iterable[ExportedEvent], key: str, version: int) -> ExportedEvent:
    return next(e for e in events if (e.key, e.version) == (key, version))


def find(events: Iterable[ExportedEvent], key: str, name: str, **payload: object) -> ExportedEvent:
    """The first event ``RpCleanup.<name>`` of stream ``key`` whose payload has ``payload``."""
    return next(
        e
        for e in events
        if e.key == key
        and e.event == f"RpCleanup.{name}"
        and all(e.payload.get(field) == value for field, value in payload.items())
    )


def replace_event(
    events: list[ExportedEvent], target: ExportedEvent, change: Callable[[ExportedEvent], Any]
) -> list[ExportedEvent]:
    """``events`` with ``target`` replaced by ``change(target)`` (an event, or None to drop it)."""
    out = []
    for event in events:
        if event != target:
            out.append(event)
            continue
        changed = change(event)
        if changed is not None:
            out.append(changed)
    return out


def with_payload(event: ExportedEvent, **fields: Any) -> ExportedEvent:
    return dataclasses.replace(event, payload={**event.payload, **fields})


def finding(
    code: str, category: str, key: str, version: int, event: str | None, message: str
) -> Diagnostic:
    """A replay finding: a diagnostic at one event of one stream."""
    return Diagnostic(code, message, StreamPosition(category, key, version, event))
