"""Given/when/then for decide and evolve, the way the runtime drives them.

A ``Scenario`` keeps the recorded stream of one process instance. Handling an
event records it together with the decisions made on it, as the runtime's one
append does; every event gets a fresh id and the scenario's clock time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from event_sourcery import Event

from pmc.runtime import EventMeta, ProcessDefinition, ProcessState

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEY = "r1"


class Scenario:
    def __init__(self, module: ModuleType, key: str = KEY) -> None:
        self.m = module
        self.definition: ProcessDefinition = module.DEFINITION
        self.key = key
        self.now = T0
        self.stream: list[Event] = []
        self.state: ProcessState = self.definition.initial_state()
        self._ids = (uuid.uuid5(uuid.NAMESPACE_OID, f"event-{n}") for n in range(10**9))

    # ---- driving --------------------------------------------------------------

    def meta(self) -> EventMeta:
        return EventMeta(event_id=next(self._ids), timestamp=self.now, key=self.key)

    # Decisions are typed Any: the generated classes are imported at run
    # time, so mypy cannot know their fields.
    def handle(self, event: Event, meta: EventMeta | None = None) -> list[Any]:
        """Decide on ``event``, then record it and the decisions."""
        decisions = self.definition.decide(self.state, event, meta or self.meta())
        for recorded in (event, *decisions):
            self.stream.append(recorded)
            self.state = self.definition.evolve(self.state, recorded)
        return decisions

    def given(self, *events: Event) -> Scenario:
        for event in events:
            self.handle(event)
        return self

    def when(self, event: Event) -> list[Any]:
        return self.handle(event)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    # ---- reading the stream -------------------------------------------------------

    def of_type(self, name: str, events: Iterable[Event] | None = None) -> list[Any]:
        cls = getattr(self.m, name)
        return [e for e in (self.stream if events is None else events) if isinstance(e, cls)]

    def planned(self, machine_id: str, transition: str) -> Any:
        """The last TransitionPlanned of ``transition`` for ``machine_id``."""
        found = [
            e
            for e in self.of_type("TransitionPlanned")
            if e.machine_id == machine_id and e.transition == transition
        ]
        assert found, f"no {transition} planned for {machine_id}"
        return found[-1]

    # ---- task outcomes, as workers report them ----------------------------------------

    def completed(
        self, planned: Any, result: dict[str, Any] | None = None, attempt: int = 1
    ) -> Any:
        return self.m.TaskCompleted(
            machine=planned.machine,
            machine_id=planned.machine_id,
            task_id=planned.task_id,
            transition=planned.transition,
            attempt=attempt,
            result=result,
        )

    def failed(self, planned: Any, attempt: int = 1, reason: str = "boom") -> Any:
        return self.m.TaskFailed(
            machine=planned.machine,
            machine_id=planned.machine_id,
            task_id=planned.task_id,
            transition=planned.transition,
            attempt=attempt,
            reason=reason,
        )

    def timed_out(self, planned: Any, attempt: int = 1) -> Any:
        return self.m.TaskTimedOut(task_id=planned.task_id, attempt=attempt)

    def started(self, planned: Any, attempt: int = 1) -> Any:
        return self.m.TaskStarted(
            task_id=planned.task_id,
            attempt=attempt,
            worker="w1",
            lease_until=self.now + timedelta(seconds=30),
        )


def summary(events: Iterable[Event]) -> list[tuple[Any, ...]]:
    """A compact, readable form of decisions for assertions."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        name = type(event).__name__
        match name:
            case "TransitionPlanned":
                e: Any = event
                out.append((name, e.machine_id, f"{e.from_state}->{e.to_state}", e.task))
            case "TaskRetryScheduled":
                e = event
                out.append((name, e.attempt, e.not_before - T0))
            case "TimerScheduled":
                e = event
                out.append((name, e.machine_id, e.transition, e.due_at - T0))
            case "ProcessFailed" | "ProcessCancelled":
                e = event
                out.append((name, e.reason))
            case _:
                out.append((name,))
    return out
