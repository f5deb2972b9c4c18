# An order is paid for and shipped.
#
# Two single-instance machines run side by side, both started by the same
# `OrderPlaced` event: `Payment` authorises the card and captures the money,
# `Shipping` reserves the stock, books a courier once the warehouse has packed
# the parcel, and mails the tracking number. A single-instance machine reacts
# to plain `EventName` triggers; its one instance is named after the machine.
process OrderFulfilment {
    key order_id

    # Only this event may open a stream (see `start on` below): an
    # `OrderPacked` for an order we never saw is reported and dropped.
    event OrderPlaced {
        order_id: str
        customer_id: str
        amount: Decimal
        currency: str = "EUR"
        items: list[str]
    }

    # Sent by the warehouse; the packing slip carries the delivery address.
    event OrderPacked {
        order_id: str
        address: str
        weight_grams: int
    }

    # Sent by the courier's webhook.
    event ParcelDelivered {
        order_id: str
        signed_by: str | None = none
    }

    # ---- payment ----------------------------------------------------------

    # Retries cover gateway hiccups; a card that is declined fails for good
    # once they are used up, and the order fails with it.
    task AuthorizePayment async {
        order_id: str
        customer_id: str
        amount: Decimal
        currency: str
        returns {
            authorization_id: str
            authorized_amount: Decimal
        }
        retry 3 backoff 1s max 30s
        timeout 20s
    }

    task CapturePayment async {
        authorization_id: str
        amount: Decimal
        returns {
            capture_id: str
        }
        retry 5 every 10s
        timeout 30s
    }

    # ---- shipping -----------------------------------------------------------

    # A local database update: `sync` runs it inline, right after the decision
    # is stored, instead of waiting for a worker.
    task ReserveStock sync {
        order_id: str
        items: list[str]
    }

    task BookCourier async {
        order_id: str
        address: str
        weight_grams: int
        returns {
            tracking_number: str
            label_url: str
        }
        retry 3 backoff 5s
        timeout 1m
    }

    # `template` has a default, so a `run` may leave it unbound.
    task SendTrackingMail sync {
        order_id: str
        tracking_number: str
        template: str = "parcel-on-its-way"
    }

    machine Payment {
        states Pending, Authorizing, Capturing, Captured, Declined, CaptureFailed
        initial Pending
        final Captured, Declined, CaptureFailed

        # `key` is the stream's key, here the order id.
        transition authorize: Pending -> Authorizing on OrderPlaced
            run AuthorizePayment(
                order_id = key,
                customer_id = event.customer_id,
                amount = event.amount,
                currency = event.currency,
            )
        # On `completed`, `event.FIELD` reads the task's `returns` fields: the
        # authorisation flows straight into the capture.
        transition capture: Authorizing -> Capturing on AuthorizePayment completed
            run CapturePayment(
                authorization_id = event.authorization_id,
                amount = event.authorized_amount,
            )
        transition decline: Authorizing -> Declined on AuthorizePayment failed
        transition captured: Capturing -> Captured on CapturePayment completed
        transition capture_failed: Capturing -> CaptureFailed on CapturePayment failed
    }

    machine Shipping {
        states Waiting, Reserving, Reserved, Booking, Mailing, InTransit, Delivered, OutOfStock,
               Undeliverable
        initial Waiting
        final Delivered, OutOfStock, Undeliverable

        transition reserve: Waiting -> Reserving on OrderPlaced
            run ReserveStock(order_id = key, items = event.items)
        transition reserved: Reserving -> Reserved on ReserveStock completed
        transition out_of_stock: Reserving -> OutOfStock on ReserveStock failed

        # `ReserveStock` is sync: it has run by the time handling
        # `OrderPlaced` returns, before the warehouse is asked to pack. An
        # `OrderPacked` in any other state is recorded and changes nothing.
        transition book: Reserved -> Booking on OrderPacked
            run BookCourier(
                order_id = key,
                address = event.address,
                weight_grams = event.weight_grams,
            )
        transition booked: Booking -> Mailing on BookCourier completed
            run SendTrackingMail(order_id = key, tracking_number = event.tracking_number)
        transition no_courier: Booking -> Undeliverable on BookCourier failed

        # A lost mail is no reason to stop the parcel: both outcomes move on.
        transition mailed: Mailing -> InTransit on SendTrackingMail completed
        transition mail_lost: Mailing -> InTransit on SendTrackingMail failed

        transition delivered: InTransit -> Delivered on ParcelDelivered
    }

    start on OrderPlaced

    # Without this line the process would complete as soon as both machines
    # are final, declined or not; here only the happy ending completes it.
    complete when all Payment in Captured and all Shipping in Delivered

    # Any one condition is enough. Stock reserved for a failed order is
    # released by the warehouse, which subscribes to `ProcessFailed`.
    fail when any Payment in Declined, CaptureFailed or any Shipping in OutOfStock, Undeliverable
}
