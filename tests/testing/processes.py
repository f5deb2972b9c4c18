"""The processes the kit's own tests run: mostly ``kit_order`` (a charge with retries
and a timeout, a sync task, a timer, data, and a cancel event); ``hang_and_poll``
and ``checked_on_arrival`` for time passing beside a hanging or a sync task."""

from __future__ import annotations

from types import ModuleType

from tests.runtime.support import compiled

KIT_ORDER = """
process KitOrder {
    key order_id

    event OrderPlaced {
        order_id: str
        amount: int
    }

    event OrderCancelled {
        order_id: str
    }

    data {
        charged: int = 0
        charge_id: str = ""
    }

    task Charge {
        order_id: str
        amount: int
        returns {
            charge_id: str
        }
        retry 2 every 1m
        timeout 30s
    }

    task Notify sync {
        order_id: str
    }

    machine Payment {
        states Open, Charging, Notifying, Paid, Failed
        initial Open
        final Paid, Failed

        transition charge: Open -> Charging on OrderPlaced
            run Charge(order_id = key, amount = event.amount)
        transition charged: Charging -> Notifying on Charge completed
            run Notify(order_id = key)
            set data.charge_id = event.charge_id, data.charged = data.charged + 1
        transition refused: Charging -> Failed on Charge failed
        transition notified: Notifying -> Paid on Notify completed
        transition unnotified: Notifying -> Paid on Notify failed
    }

    machine Reminder {
        states Idle, Waiting, Reminded
        initial Idle
        final Reminded

        transition wait: Idle -> Waiting on OrderPlaced
        transition remind: Waiting -> Reminded on after 1m
    }

    start on OrderPlaced
    complete when all Payment in Paid and all Reminder in Reminded
    fail when any Payment in Failed
    cancel on OrderCancelled
}
"""


def kit_order() -> ModuleType:
    return compiled(KIT_ORDER)


# A task that may hang for 30s beside a timer due after 10s, and a poller.
HANG_AND_POLL = """
process HangAndPoll {
    key id

    event Go {
        id: str
    }

    task Slow {
        x: str
        timeout 30s
    }

    machine M {
        states Idle, Running, Ticked, Done, Failed
        initial Idle
        final Done, Failed, Ticked

        transition start: Idle -> Running on Go
            run Slow(x = key)
        transition tick: Running -> Ticked on after 10s
        transition done: Running -> Done on Slow completed
        transition failed: Running -> Failed on Slow failed
    }

    machine Poller {
        states Idle, Polling, Stopped
        initial Idle
        final Stopped

        transition begin: Idle -> Polling on Go
        transition poll: Polling -> Polling on after 1m
        transition stop: Polling -> Stopped on Go
    }

    start on Go
}
"""


def hang_and_poll() -> ModuleType:
    return compiled(HANG_AND_POLL)


# A sync task with a timeout, run by the step that delivers the event.
CHECKED_ON_ARRIVAL = """
process Checked {
    key id

    event Arrived {
        id: str
    }

    task Check sync {
        id: str
        timeout 10s
    }

    machine M {
        states Waiting, Checking, Checked, Unchecked
        initial Waiting
        final Checked, Unchecked

        transition check: Waiting -> Checking on Arrived
            run Check(id = key)
        transition checked: Checking -> Checked on Check completed
        transition unchecked: Checking -> Unchecked on Check failed
    }

    start on Arrived
}
"""


def checked_on_arrival() -> ModuleType:
    return compiled(CHECKED_ON_ARRIVAL)
