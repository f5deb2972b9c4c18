"""Small processes the behaviour tests run, each exercising a few rules."""

from __future__ import annotations

# Three machines, one per retry policy, all fanned out over the same event.
JOBS = """
process Jobs {
    key job_id
    event Submitted { job_id: str  parts: list[int] }
    task Backoff { part: str  retry 4 backoff 1s max 5s  timeout 10s }
    task Every { part: str  retry 2 every 3s }
    task Once { part: str }
    machine B {
        states Idle, Running, Done, Broken
        initial Idle
        final Done, Broken
        transition go: Idle -> Running on Submitted.parts run Backoff(part = machine_id)
        transition ok: Running -> Done on Backoff completed
        transition ko: Running -> Broken on Backoff failed
    }
    machine E {
        states Idle, Running, Done, Broken
        initial Idle
        final Done, Broken
        transition go: Idle -> Running on Submitted.parts run Every(part = machine_id)
        transition ok: Running -> Done on Every completed
        transition ko: Running -> Broken on Every failed
    }
    machine O {
        states Idle, Running, Done, Broken
        initial Idle
        final Done, Broken
        transition go: Idle -> Running on Submitted.parts run Once(part = machine_id)
        transition ok: Running -> Done on Once completed
        transition ko: Running -> Broken on Once failed
    }
}
"""

# A single-instance machine with timers, a sync task with a result, start
# and cancel events.
APPROVAL = """
process Approval {
    key doc_id
    event Requested { doc_id: str }
    event Approved { doc_id: str }
    event Withdrawn { doc_id: str }
    task Remind sync { doc_id: str  returns { sent_to: str } }
    task Archive { doc_id: str  note: str }
    machine Review {
        states Waiting, Reminding, Reminded, Accepted, Expired
        initial Waiting
        final Accepted, Expired
        transition remind: Waiting -> Reminding on after 1h run Remind(doc_id = key)
        transition reminded: Reminding -> Reminded on Remind completed
            run Archive(doc_id = key, note = event.sent_to)
        transition not_reminded: Reminding -> Reminded on Remind failed
            run Archive(doc_id = key, note = event.reason)
        # Self-loops: an outcome that does not leave the state.
        transition archived: Reminded -> Reminded on Archive completed
        transition not_archived: Reminded -> Reminded on Archive failed
        transition accept: Waiting, Reminded -> Accepted on Approved
        transition expire: Reminded -> Expired on after 1d
    }
    start on Requested
    cancel on Withdrawn
}
"""

# A multi-instance machine whose instances are opened and closed by different
# events: a `Closed` for a ticket never opened is accepted by no transition.
TICKETS = """
process Tickets {
    key board
    event Opened { board: str  ids: list[str] }
    event Closed { board: str  id: str }
    machine Ticket {
        states New, Open, Done
        initial New
        final Done
        transition open: New -> Open on Opened.ids
        transition close: Open -> Done on Closed.id
    }
}
"""

# Retries without a `max`, deep enough for an uncapped backoff to overflow,
# and a timer as long as a duration may be.
DEEP = """
process Deep {
    key id
    event Go { id: str }
    task Poll { id: str  retry 200 backoff 1h }
    machine M {
        states Idle, Polling, Done, Gone
        initial Idle
        final Done, Gone
        transition go: Idle -> Polling on Go run Poll(id = key)
        transition ok: Polling -> Done on Poll completed
        transition ko: Polling -> Done on Poll failed
        transition gone: Polling -> Gone on after 36500d
    }
}
"""

# A many-instance machine with a plain trigger: `OrderCancelled` broadcasts
# to every existing `Item` and moves those still `Queued`, binding each one's
# id. (Until the broadcast rule, mixing the two kinds of trigger was PM0406.)
PICKING = """
process OrderPicking {
    key order_id
    event ItemAdded { order_id: str  item: str }
    event PickingStarted { order_id: str  item: str }
    event OrderCancelled { order_id: str }
    task PickItem { item: str }
    task Restock { item: str }
    machine Item {
        states New, Queued, Picking, Restocking, Picked, Cancelled
        initial New
        final Picked, Cancelled
        transition add: New -> Queued on ItemAdded.item
        transition start: Queued -> Picking on PickingStarted.item run PickItem(item = machine_id)
        transition cancel: Queued -> Restocking on OrderCancelled run Restock(item = machine_id)
        transition restocked: Restocking -> Cancelled on Restock completed
        transition lost: Restocking -> Cancelled on Restock failed
        transition picked: Picking -> Picked on PickItem completed
        transition missing: Picking -> Cancelled on PickItem failed
    }
    complete when all Item final
}
"""
