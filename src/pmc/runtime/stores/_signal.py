"""Waking idle workers: a notification, or a poll when none can come.

A change to the work index made through a store object wakes the waiters
of that object at once. Other processes' changes are seen by polling, or,
where the database can say so (PostgreSQL's ``LISTEN``; see ``_notify``),
by a ``WorkListener`` one waiter at a time blocks on, polling then only as
a slow fallback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pmc.runtime.stores.api import Categories, Clock, categories_of

# 50 ms keeps "new work noticed within 100 ms" with margin for the query itself.
POLL_INTERVAL = 0.05


class WorkListener(Protocol):
    """Blocks until another process made work due, or a timeout passes."""

    def listen(self) -> None:
        """Listen from now on (before the store is asked), if not already."""
        ...

    def wait(self, timeout: float) -> list[Notice]:
        """The rows notified as written unclaimed (none: the timeout passed)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Notice:
    """Another process wrote a row of ``category`` unclaimed, due at ``due_at``."""

    category: str
    due_at: datetime


# Seconds until some work is claimable (<= 0: now), None if the index is empty.
DueIn = Callable[[datetime], float | None]


class WorkSignal:
    """Counts changes to the work index seen by one store object, and waits for them.

    ``poll_interval`` is how often a waiter asks the store when nothing
    wakes it. The answer is remembered per category filter: a waiter coming
    back before anything changed, before the poll interval passed and before
    the next due time, waits without asking again, so an idle worker costs
    at most one query per poll interval whatever its own timeouts.
    """

    def __init__(
        self, listener: WorkListener | None = None, poll_interval: float = POLL_INTERVAL
    ) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._listener = listener
        self._listening = False
        self._poll_interval = poll_interval
        # Per category filter: what the last answer holds for (see ``_Quiet``).
        self._quiet: dict[Categories, _Quiet] = {}

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def wait_for_due(
        self, due_in: DueIn, timeout: float, clock: Clock, key: Categories = None
    ) -> bool:
        """Whether some work (of ``key``) is due, waiting up to ``timeout`` seconds for it.

        A notification of work in one of ``key``'s categories answers
        without asking the store: True if it is due by ``clock``, else the
        wait goes on until then (the caller's claim asks anyway).
        """
        chosen = categories_of(key)
        if self._listener is not None:
            self._listener.listen()
        deadline = time.monotonic() + timeout
        while True:
            # Read the generation before querying, so a change committed
            # while the query runs still cuts the following wait short.
            with self._condition:
                seen = self._generation
                quiet = self._quiet.get(key)
            now = clock()
            if quiet is None or not quiet.holds(seen, now):
                seconds = due_in(now)
                if seconds is not None and seconds <= 0:
                    return True
                due_at = None if seconds is None else now + timedelta(seconds=seconds)
                quiet = _Quiet(seen, time.monotonic() + self._poll_interval, due_at)
                with self._condition:
                    self._quiet[key] = quiet
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            woken = self._wait(seen, min(quiet.seconds_left(now), remaining))
            if woken is None:
                continue
            generation, notices = woken
            mine = [n.due_at for n in notices if chosen is None or n.category in chosen]
            if mine and min(mine) <= clock():
                return True
            with self._condition:
                # Nothing due yet: what the store would say, without asking it.
                self._quiet[key] = quiet.noticed(generation, mine)

    def _wait(self, seen: int, seconds: float) -> tuple[int, list[Notice]] | None:
        """Wait ``seconds`` or until the generation moves past ``seen``.

        If this thread was the one listening: the generation after the wait
        and the notices received.
        """
        with self._condition:
            if self._generation != seen or seconds <= 0:
                return None
            if self._listener is None or self._listening:
                self._condition.wait(seconds)
                return None
            self._listening = True
        notices: list[Notice] = []
        try:
            notices = self._listener.wait(seconds)
        finally:
            with self._condition:
                self._listening = False
                if notices:
                    self._generation += 1
                self._condition.notify_all()
                generation = self._generation
        return generation, notices


@dataclass(frozen=True, slots=True)
class _Quiet:
    """An answer "nothing is due": it holds until the index changes (a new
    generation), the poll interval passes, or the store's clock reaches the
    next due time (a fake clock may jump there)."""

    generation: int
    poll_at: float  # time.monotonic()
    due_at: datetime | None  # the store's clock

    def holds(self, generation: int, now: datetime) -> bool:
        return (
            generation == self.generation
            and time.monotonic() < self.poll_at
            and (self.due_at is None or now < self.due_at)
        )

    def noticed(self, generation: int, due: list[datetime]) -> _Quiet:
        """This answer, still holding after notices of work due at ``due`` (not yet)."""
        due_at = min([*due, *([] if self.due_at is None else [self.due_at])], default=None)
        return _Quiet(generation, self.poll_at, due_at)

    def seconds_left(self, now: datetime) -> float:
        left = self.poll_at - time.monotonic()
        if self.due_at is None:
            return left
        return min(left, (self.due_at - now).total_seconds())
