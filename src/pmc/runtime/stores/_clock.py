"""The database server's clock, as a PostgreSQL store tells it.

Workers on several machines compare leases and due times that other
machines wrote, so they must all read one clock: the database's. Asking the
server for every reading would add a round trip to every step of a worker
(about 0.3 ms on loopback, more across a network, several times per
attempt) and double the queries of idle workers. Instead the server's clock
is read once per ``refresh_seconds`` and extrapolated in between with this
process's monotonic clock, which NTP only slews and nobody sets: a reading
is off by at most half the round trip of the last read plus the drift of the
monotonic clock since (microseconds per second), and a step of the server's
clock shows within ``refresh_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pmc.runtime.stores.api import require_aware

# Reading the server's clock costs one query per store object this often.
REFRESH_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Reading:
    server_time: datetime
    at: float  # the monotonic time the server's clock was read at


class DatabaseClock:
    """A clock that tells ``read()``'s time, calling it at most once per ``refresh_seconds``."""

    def __init__(
        self,
        read: Callable[[], datetime],
        refresh_seconds: float = REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._reading: _Reading | None = None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        reading = self._reading
        if reading is None or self._monotonic() - reading.at >= self._refresh:
            reading = self._read_again()
        return reading.server_time + timedelta(seconds=self._monotonic() - reading.at)

    def _read_again(self) -> _Reading:
        # One thread reads; the others wait for its reading instead of
        # sending the same query.
        with self._lock:
            reading = self._reading
            if reading is not None and self._monotonic() - reading.at < self._refresh:
                return reading
            sent = self._monotonic()
            server_time = self._read()
            received = self._monotonic()
            require_aware("the database time", server_time)
            # The server read its clock somewhere during the round trip: the
            # middle is off by at most half of it.
            reading = _Reading(server_time, (sent + received) / 2)
            self._reading = reading
            return reading
