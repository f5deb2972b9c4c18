"""A ``Scenario`` that checks, after every step, that ``decide`` and a fold agree.

The state ``decide`` builds while deciding (``engine.decide_and_fold``) must
be the state a from-scratch fold of the recorded stream rebuilds, data
included: evolve applies the recorded ``data_set`` / ``instance_set`` and
never evaluates a clause again.
"""

from __future__ import annotations

from typing import Any

from event_sourcery import Event

from pmc.runtime import EventMeta, engine
from tests.engine.scenario import Scenario


class CheckedScenario(Scenario):
    def handle(self, event: Event, meta: EventMeta | None = None) -> list[Any]:
        decisions, decided = engine.decide_and_fold(
            self.definition, self.state, event, meta or self.meta()
        )
        self.stream.extend([event, *decisions])
        self.state = decided
        assert self.definition.fold(self.stream) == decided
        return decisions

    def fired(self, timer: Any) -> list[Any]:
        """Fire a scheduled timer, as a worker does when it is due."""
        return self.when(self.m.TimerFired(timer_id=timer.timer_id))
