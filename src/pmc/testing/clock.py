"""A clock that moves only when a test moves it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from pmc.errors import PmcError

# The time every scenario starts at, unless given another: a fixed instant,
# so that recorded times (and failure messages) are the same on every run.
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class ClockError(PmcError, ValueError):
    """A fake clock asked to run back."""


def check_forward(delta: timedelta) -> None:
    """Refuse a negative ``delta``: time never runs back."""
    if delta < timedelta(0):
        raise ClockError(f"time never runs back: cannot advance by {delta}")


class FakeClock:
    """A store's clock (``open_store(url, clock=...)``) that moves only when told to.

    Thread-safe: a worker's runner threads read it while a test moves it.
    """

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """Move the clock forward by ``delta``, or by ``timedelta(**parts)`` (``minutes=5``).

        A negative step is refused: time never runs back.
        """
        step = (delta or timedelta(0)) + timedelta(**parts)
        check_forward(step)
        with self._lock:
            self._now += step

    def move_to(self, when: datetime) -> None:
        """Move the clock to ``when``, if that is not in the past."""
        with self._lock:
            if when > self._now:
                self._now = when
