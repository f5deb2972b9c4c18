"""examples/dunning.pm end to end: declines counted in data, guards, a deadline from data.

The stores run on a fake clock, which the test moves to fire the retry
timer (`after 3d`) and the grace deadline (`on at data.grace_until`).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pmc.runtime import End, PermanentFailure, TaskContext
from pmc.runtime.stores import ProcessStore
from tests.examples.inputs import dunning, invoice_overdue
from tests.examples.support import (
    Recorded,
    assert_pmc_replay_agrees,
    assert_replay_agrees,
    deployed,
    events_named,
    planned,
    time_passes,
)
from tests.fake_clock import FakeClock


class Gateway:
    """The `E2eDunningTasks` handler: declines with the scripted codes, then charges."""

    def __init__(self, declines: list[str]) -> None:
        self.declines = list(declines)
        self.seen = Recorded()

    def charge_card(self, task: Any, ctx: TaskContext) -> Any:
        self.seen.add("ChargeCard", task, ctx)
        if self.declines:
            raise PermanentFailure(self.declines.pop(0))
        return {"charge_id": f"ch-{task.attempt}", "amount": task.amount}


def test_three_soft_declines_fail_the_dunning(
    store: ProcessStore, store_url: str, clock: FakeClock
) -> None:
    gateway = Gateway(declines=["insufficient_funds"] * 3)
    manager, worker = deployed(dunning(), store, gateway)
    manager.handle(invoice_overdue(clock(), grace=timedelta(days=30)))
    worker.drain()
    assert manager.state("s1").data.declines == 1

    time_passes(clock, worker, days=3)  # the retry timer: a second decline
    time_passes(clock, worker, days=3)  # and a third

    state = assert_replay_agrees(dunning(), manager, "s1")
    assert state.end is End.FAILED
    assert state.end_reason == "data.declines >= 3 holds"
    assert state.of("Invoice") == "Declined"
    assert [c["attempt"] for c in gateway.seen.of("ChargeCard")] == [1, 2, 3]
    assert {c["amount"] for c in gateway.seen.of("ChargeCard")} == {"100.00"}
    transitions = [p[2] for p in planned(manager.history("s1"))]
    assert transitions == ["charge", "declined", "retry", "declined", "retry", "exhausted"]
    # Each `set` is recorded with the transition that made it.
    written = [p.data_set for p in events_named(manager.history("s1"), "TransitionPlanned")]
    assert written[1] == {"declines": 1}
    assert written[-1] == {"declines": 3}
    assert_pmc_replay_agrees(dunning(), store_url)


def test_after_a_hard_decline_only_a_new_card_is_charged_and_for_the_rest_only(
    store: ProcessStore, store_url: str, clock: FakeClock
) -> None:
    gateway = Gateway(declines=["hard_decline"])
    manager, worker = deployed(dunning(), store, gateway)
    manager.handle(invoice_overdue(clock(), grace=timedelta(days=30)))
    worker.drain()
    assert manager.state("s1").data.card_refused is True

    time_passes(clock, worker, days=3)  # the retry timer fires; its guard turns it away
    assert manager.state("s1").of("Invoice") == "Waiting"
    assert len(gateway.seen.of("ChargeCard")) == 1

    # Another invoice's payment is recorded and changes nothing.
    other = dunning().PaymentReceived(
        subscription_id="s1", invoice_id="inv-0", amount=Decimal("100.00")
    )
    assert manager.handle(other).decisions == ()
    part = dunning().PaymentReceived(
        subscription_id="s1", invoice_id="inv-1", amount=Decimal("30.00")
    )
    assert [d.transition for d in manager.handle(part).decisions] == ["part"]
    # The refused card entered again changes nothing; a new one is charged.
    assert (
        manager.handle(dunning().CardUpdated(subscription_id="s1", card_id="card-1")).decisions
        == ()
    )
    manager.handle(dunning().CardUpdated(subscription_id="s1", card_id="card-2"))
    worker.drain()

    state = assert_replay_agrees(dunning(), manager, "s1")
    assert state.end is End.COMPLETED
    assert (state.data.paid, state.data.card_id, state.data.card_refused) == (
        Decimal("100.00"),
        "card-2",
        False,
    )
    assert gateway.seen.of("ChargeCard")[-1] == {
        "subscription_id": "s1",
        "invoice_id": "inv-1",
        "card_id": "card-2",
        "amount": "70.00",
        "attempt": 1,
    }
    assert (state.of("Invoice"), state.of("Transfers")) == ("Paid", "Open")
    assert_pmc_replay_agrees(dunning(), store_url)


def test_the_subscription_lapses_at_the_grace_deadline_read_from_data(
    store: ProcessStore, clock: FakeClock
) -> None:
    gateway = Gateway(declines=["expired_card"])
    manager, worker = deployed(dunning(), store, gateway)
    event = invoice_overdue(clock(), grace=timedelta(days=2))
    manager.handle(event)
    worker.drain()

    scheduled = events_named(manager.history("s1"), "TimerScheduled")
    assert sorted(t.due_at for t in scheduled) == [
        event.grace_until,  # lapse: `on at data.grace_until`
        clock() + timedelta(days=3),  # retry: `on after 3d`
    ]
    time_passes(clock, worker, days=2)

    state = assert_replay_agrees(dunning(), manager, "s1")
    assert state.end is End.FAILED
    assert state.end_reason == "Invoice is in Lapsed"
    assert state.data.grace_until == event.grace_until
    assert [p[2] for p in planned(manager.history("s1"))] == ["charge", "hard_decline", "lapse"]
