"""The process the kit's own tests run: a charge with retries and a timeout, a sync
task, a timer, data, and a cancel event."""

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
