"""Waking idle workers: in-process notification plus a short poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from pmc.runtime.stores.api import Clock

# 50 ms keeps "new work noticed within 100 ms" with margin for the query itself.
POLL_INTERVAL = 0.05


class WorkSignal:
    """Counts changes to the work index made through one store object."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait_for_due(
        self,
        has_due: Callable[[datetime], bool],
        timeout: float,
        clock: Clock,
        poll_interval: float = POLL_INTERVAL,
    ) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            # Read the generation before querying, so a change committed
            # while the query runs still cuts the following wait short.
            with self._condition:
                seen = self._generation
            if has_due(clock()):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._condition:
                if self._generation == seen:
                    self._condition.wait(min(poll_interval, remaining))
