"""The processes the runtime tests run.

event-sourcery keeps one class per ``__event_name__`` for the whole
interpreter, and other test packages compile ``RebaseCleanup`` too, so every
process here has a name of its own (``Rt...``).
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The reference scenario, exactly as in examples/, under another name.
SEED = (
    (EXAMPLES / "rebase_cleanup.pm")
    .read_text(encoding="utf-8")
    .replace("process RebaseCleanup", "process RtRebase")
)

# A sync task whose result feeds an async one, a timer on a single-instance
# machine, `start on` and `cancel on`.
ORDER = """
process RtOrder {
    key order_id
    event Placed { order_id: str  items: list[str] }
    event Withdrawn { order_id: str }
    event Nudged { order_id: str }
    task Reserve sync { order_id: str  returns { reservation: str } }
    task Ship async {
        order_id: str
        reservation: str
        retry 2 backoff 2s
        timeout 30s
    }
    machine Order {
        states New, Reserving, Shipping, Shipped, Stuck, Lost
        initial New
        final Shipped, Stuck, Lost
        transition reserve: New -> Reserving on Placed run Reserve(order_id = key)
        transition reserved: Reserving -> Shipping on Reserve completed
            run Ship(order_id = key, reservation = event.reservation)
        transition stuck: Reserving -> Stuck on Reserve failed
        transition shipped: Shipping -> Shipped on Ship completed
        transition lost: Shipping -> Lost on Ship failed
    }
    machine Deadline {
        states Open, Expired
        initial Open
        final Expired
        transition nudge: Open -> Open on Nudged
        transition expire: Open -> Expired on after 1h
    }
    start on Placed
    complete when all Order final
    fail when any Order in Stuck, Lost or any Deadline in Expired
    cancel on Withdrawn
}
"""

# Every Tick is accepted (a self-loop), so each one records one decision.
TALLY = """
process RtTally {
    key tally_id
    event Tick { tally_id: str  n: int }
    event Close { tally_id: str }
    machine Tally {
        states Open, Closed
        initial Open
        final Closed
        transition tick: Open -> Open on Tick
        transition close: Open -> Closed on Close
    }
}
"""

# A single-instance machine waiting on a timer.
REMINDER = """
process RtReminder {
    key ticket_id
    event Opened { ticket_id: str }
    event Answered { ticket_id: str }
    machine Ticket {
        states New, Waiting, Reminded, Done
        initial New
        final Done
        transition open: New -> Waiting on Opened
        transition remind: Waiting -> Reminded on after 1h
        transition answer: Waiting, Reminded -> Done on Answered
    }
    start on Opened
}
"""

# The seed scenario with a 1 s timeout and immediate retries, so a test can
# wait for a lease to expire in real time.
QUICK = (
    SEED.replace("process RtRebase", "process RtQuick")
    .replace("retry 3 backoff 2s max 1m", "retry 3")
    .replace("timeout 30s", "timeout 1s")
)

# The seed scenario without `timeout`: an attempt may run as long as its
# worker keeps renewing the lease.
UNTIMED = SEED.replace("process RtRebase", "process RtUntimed").replace("        timeout 30s\n", "")
