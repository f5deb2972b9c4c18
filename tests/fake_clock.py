"""Fake clocks for tests, and running a program under a shifted wall clock.

A fake clock is given to a store (``open_store(url, clock=...)``): the
store's clock is the only one the runtime reads.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)


def faketime(offset: str) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment that run a program ``offset`` off (``+5m``).

    Only the wall clock is shifted, as on a machine whose clock is wrong:
    ``FAKETIME_DONT_FAKE_MONOTONIC`` keeps the monotonic clock real, because
    libfaketime 0.9.10 with a faked monotonic clock makes Python's timed lock
    waits (``Event.wait(timeout)``) hang. In that mode its ``clock_nanosleep``
    fails with EINVAL, so the programs run this way avoid ``time.sleep``
    (see ``without_sleep``).

    Without the ``faketime`` program (Debian package ``faketime``) the test
    is skipped, except on CI (``CI=true``), which installs it: there it fails.
    """
    program = shutil.which("faketime")
    if program is None:
        reason = "the faketime program (Debian package faketime) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must install it")
        pytest.skip(reason)
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return [program, "-f", offset], env


def without_sleep() -> None:
    """Make ``time.sleep`` wait on an event instead: it fails under faketime (see above)."""
    import time

    def sleep(seconds: float) -> None:
        threading.Event().wait(seconds)

    time.sleep = sleep
