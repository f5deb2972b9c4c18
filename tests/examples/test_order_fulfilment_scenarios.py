"""examples/order_fulfilment.pm with pmc.testing: payment and shipping side by side,
sync tasks run inline, async ones retried."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

from pmc.testing import MakeScenario, Scenario, fail, succeed
from tests.examples.support import example

Make = MakeScenario


def orders() -> ModuleType:
    return example("order_fulfilment")


def shop(scenario: Make) -> Scenario:
    """Payments are authorised and captured; couriers booked; mails sent; stock reserved."""
    s = scenario(orders(), default=succeed())
    s.script(
        "AuthorizePayment",
        succeed(lambda task: {"authorization_id": "auth-1", "authorized_amount": task.amount}),
    )
    s.script("CapturePayment", succeed({"capture_id": "cap-1"}))
    return s.script("BookCourier", succeed({"tracking_number": "TR-1", "label_url": "https://l"}))


def placed() -> Any:
    return orders().OrderPlaced(
        order_id="o1", customer_id="c1", amount=Decimal("20.00"), items=["book"]
    )


def test_an_order_is_paid_packed_shipped_and_delivered(scenario: Make) -> None:
    s = shop(scenario)

    s.when(placed(), run_due=False)
    # The sync reservation ran inline, before the workers' turn.
    s.expect_transitions(
        "Payment: Pending -> Authorizing (authorize)",
        "Shipping: Waiting -> Reserving (reserve)",
        "Shipping: Reserving -> Reserved (reserved)",
    )
    s.expect_tasks(("AuthorizePayment", {"amount": "20.00", "currency": "EUR"}), "ReserveStock")
    s.run_due().expect_states(Payment="Captured", Shipping="Reserved")

    s.when(orders().OrderPacked(order_id="o1", address="1 Main St", weight_grams=500))
    s.expect_tasks(
        ("BookCourier", {"address": "1 Main St", "weight_grams": 500}),
        ("SendTrackingMail", {"tracking_number": "TR-1", "template": "parcel-on-its-way"}),
    )
    s.expect_states(Shipping="InTransit").expect_end(None)

    s.when(orders().ParcelDelivered(order_id="o1", signed_by="Ada"))
    s.expect_transitions("Shipping: InTransit -> Delivered").expect_end("completed")


def test_a_declined_payment_fails_the_order_after_its_retries(scenario: Make) -> None:
    s = shop(scenario).script("AuthorizePayment", fail("card declined"))

    s.when(placed())
    s.advance(timedelta(minutes=1))  # `retry 3 backoff 1s max 30s`

    assert [c.attempt for c in s.tasks.calls("AuthorizePayment")] == [1, 2, 3, 4]
    s.expect_states(Payment="Declined", Shipping="Reserved")
    s.expect_end("failed")


def test_stock_that_cannot_be_reserved_fails_the_order_at_once(scenario: Make) -> None:
    s = shop(scenario).script("ReserveStock", fail("out of stock"))

    s.when(placed(), run_due=False)

    s.expect_transitions(
        "Payment: Pending -> Authorizing",
        "Shipping: Waiting -> Reserving",
        "Shipping: Reserving -> OutOfStock (out_of_stock)",
    )
    s.expect_end("failed")
