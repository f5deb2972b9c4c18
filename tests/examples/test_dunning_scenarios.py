"""examples/dunning.pm with pmc.testing: declines counted in data, guards, a deadline from data.

The end-to-end runs on SQLite and PostgreSQL stay in test_dunning_e2e.py.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pmc.testing import START, MakeScenario, fail, succeed
from tests.examples.inputs import dunning, invoice_overdue

Make = MakeScenario
CHARGED = succeed(lambda task: {"charge_id": f"ch-{task.attempt}", "amount": task.amount})


def declined(code: str) -> Any:
    """The gateway declines: a decline is final at once (`PermanentFailure`)."""
    return fail(code, permanent=True)


def test_three_soft_declines_fail_the_dunning(scenario: Make) -> None:
    s = scenario(dunning()).script("ChargeCard", declined("insufficient_funds"))
    s.when(invoice_overdue(START, grace=timedelta(days=30)))
    s.expect_transitions("Invoice: Open -> Charging (charge)", "Invoice: Charging -> Waiting")
    s.expect_data(declines=1)

    s.advance(timedelta(days=3))  # the retry timer: a second decline
    s.expect_transitions("Invoice: Waiting -> Charging (retry)", "Invoice: Charging -> Waiting")
    s.expect_data(declines=2)
    s.advance(timedelta(days=3))  # and a third

    s.expect_transitions("Invoice: Waiting -> Charging", "Invoice: Charging -> Declined")
    s.expect_end("failed", reason="data.declines >= 3 holds").expect_states(Invoice="Declined")
    charged = s.tasks.inputs("ChargeCard")
    assert [c["attempt"] for c in charged] == [1, 2, 3]
    assert {c["amount"] for c in charged} == {"100.00"}


def test_after_a_hard_decline_only_a_new_card_is_charged_and_for_the_rest_only(
    scenario: Make,
) -> None:
    s = scenario(dunning()).script("ChargeCard", declined("hard_decline"), CHARGED)
    s.when(invoice_overdue(START, grace=timedelta(days=30))).expect_data(card_refused=True)

    s.advance(timedelta(days=3))  # the retry timer fires; its guard turns it away
    s.expect_nothing().expect_states(Invoice="Waiting")
    assert len(s.tasks.calls("ChargeCard")) == 1

    # Another invoice's payment is recorded and changes nothing.
    paid = dunning().PaymentReceived
    s.when(paid(subscription_id="s1", invoice_id="inv-0", amount=Decimal("100"))).expect_nothing()
    s.when(paid(subscription_id="s1", invoice_id="inv-1", amount=Decimal("30")))
    s.expect_transitions("Transfers: Open -> Open (part)")
    # The refused card entered again changes nothing; a new one is charged.
    s.when(dunning().CardUpdated(subscription_id="s1", card_id="card-1")).expect_nothing()
    s.when(dunning().CardUpdated(subscription_id="s1", card_id="card-2"))

    s.expect_tasks(
        (
            "ChargeCard",
            {"invoice_id": "inv-1", "card_id": "card-2", "amount": "70.00", "attempt": 1},
        )
    )
    s.expect_end("completed").expect_states(Invoice="Paid", Transfers="Open")
    s.expect_data(paid=Decimal("100.00"), card_id="card-2", card_refused=False)


def test_the_subscription_lapses_at_the_grace_deadline_read_from_data(scenario: Make) -> None:
    s = scenario(dunning()).script("ChargeCard", declined("expired_card"))
    s.when(invoice_overdue(START, grace=timedelta(days=2)))
    s.expect_timers(
        ("retry", timedelta(days=3)),  # `on after 3d`
        ("lapse", START + timedelta(days=2)),  # `on at data.grace_until`
    )

    s.advance(timedelta(days=2))

    s.expect_transitions("Invoice: Waiting -> Lapsed (lapse)")
    s.expect_end("failed", reason="Invoice is in Lapsed")
    s.expect_data(grace_until=START + timedelta(days=2))
