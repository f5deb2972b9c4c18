"""Leases of running attempts: timed by one shared thread, until stopped or refused."""

from __future__ import annotations

import threading

from pmc.runtime.running import LeaseKeeper

WAIT = 10.0  # seconds: a bound for a busy machine, not a measured time
INTERVAL = 0.01


class Renewals:
    """A renew function noting the renewal numbers; refuses the one numbered ``refuse_at``."""

    def __init__(self, refuse_at: int | None = None) -> None:
        self.numbers: list[int] = []
        self._refuse_at = refuse_at
        self._changed = threading.Condition()

    def __call__(self, number: int) -> bool:
        with self._changed:
            self.numbers.append(number)
            self._changed.notify_all()
        return number != self._refuse_at

    def reach(self, count: int) -> bool:
        """Wait until ``count`` renewals were made."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.numbers) >= count, WAIT)


def lease_threads() -> int:
    return sum(thread.name == "pmc-lease" for thread in threading.enumerate())


def test_one_thread_keeps_time_for_every_lease_until_it_is_stopped() -> None:
    keeper = LeaseKeeper()
    first, second = Renewals(), Renewals()
    before = lease_threads()

    lease = keeper.keep(first, INTERVAL, threading.Event())
    other = keeper.keep(second, INTERVAL, threading.Event())
    assert first.reach(3) and second.reach(3)
    assert lease_threads() - before <= 1
    lease.stop()
    stopped_at = len(first.numbers)
    assert second.reach(len(second.numbers) + 3)
    other.stop()

    # Numbered from 1, and none written after ``stop`` returned.
    assert first.numbers == list(range(1, stopped_at + 1))


def test_a_refused_renewal_cancels_the_attempt_and_ends_its_renewals() -> None:
    keeper = LeaseKeeper()
    renewals, bystander = Renewals(refuse_at=2), Renewals()
    cancellation = threading.Event()

    lease = keeper.keep(renewals, INTERVAL, cancellation)
    other = keeper.keep(bystander, INTERVAL, threading.Event())

    assert cancellation.wait(WAIT)
    assert bystander.reach(len(bystander.numbers) + 3)
    lease.stop()
    other.stop()
    assert renewals.numbers == [1, 2]


def test_a_renewal_that_hangs_holds_up_no_other_lease() -> None:
    # A store waiting on a lock, say: pmc 0.4 gave each lease a thread, and
    # one stuck renewal must not let the other attempts' leases run out.
    keeper = LeaseKeeper()
    released = threading.Event()
    hanging_calls: list[int] = []
    fast = Renewals()

    def hanging(number: int) -> bool:
        hanging_calls.append(number)
        released.wait(WAIT)
        return True

    stuck = keeper.keep(hanging, INTERVAL, threading.Event())
    other = keeper.keep(fast, INTERVAL, threading.Event())
    try:
        assert fast.reach(5)
        # The stuck lease is not renewed again while its renewal hangs.
        assert hanging_calls == [1]
    finally:
        released.set()
        stuck.stop()
        other.stop()
