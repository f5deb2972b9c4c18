"""Fake clocks for tests, and running a program under a shifted wall clock.

A fake clock is given to a store (``open_store(url, clock=...)``): the
store's clock is the only one the runtime reads.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from pmc.testing.clock import START
from pmc.testing.clock import FakeClock as FakeClock

# One fake clock for the suite and for process authors: pmc.testing's.
T0 = START


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
