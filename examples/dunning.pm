# Dunning: collecting an overdue invoice.
#
# The card on file is charged; a soft decline (not enough funds, say) is
# retried three days later, up to three declines in all; a hard decline
# (the card is blocked) waits for the customer to enter a new card. A bank
# transfer may pay the invoice meanwhile, in one or several parts. If the
# grace period ends first, the subscription lapses. The counts, the amounts
# and the deadline are the process's data: guards and conditions read them,
# and each value is recorded in the stream when it changes.
#
# Suspending the subscription of a failed dunning is not done here: the
# billing system subscribes to this process's `ProcessFailed`.
process Dunning {
    key subscription_id

    event InvoiceOverdue {
        subscription_id: str
        invoice_id: str
        amount: Decimal
        card_id: str
        grace_until: datetime  # the subscription lapses then, unless paid
    }

    event CardUpdated {
        subscription_id: str
        card_id: str
    }

    # From the bank; a subscriber may owe several invoices.
    event PaymentReceived {
        subscription_id: str
        invoice_id: str
        amount: Decimal
    }

    data {
        invoice_id: str = ""
        card_id: str = ""
        amount: Decimal = 0
        paid: Decimal = 0
        grace_until: datetime | None = none
        # Soft declines so far; the third fails the dunning.
        declines: int = 0
        # A hard decline: retrying this card is pointless.
        card_refused: bool = false
    }

    # A decline is final at once: the handler raises `PermanentFailure` with
    # the gateway's code ("hard_decline", "insufficient_funds", ...) as its
    # reason. The retries are for the gateway's own hiccups.
    task ChargeCard {
        subscription_id: str
        invoice_id: str
        card_id: str
        amount: Decimal
        attempt: int
        returns {
            charge_id: str
            amount: Decimal
        }
        retry 2 backoff 10s
        timeout 30s
    }

    machine Invoice {
        states Open, Charging, Waiting, Paid, Declined, Lapsed
        initial Open
        final Paid, Declined, Lapsed

        transition charge: Open -> Charging on InvoiceOverdue
            run ChargeCard(
                subscription_id = key,
                invoice_id = event.invoice_id,
                card_id = event.card_id,
                amount = event.amount,
                attempt = 1,
            )
            set data.invoice_id = event.invoice_id, data.card_id = event.card_id,
                data.amount = event.amount, data.grace_until = event.grace_until

        transition charged: Charging -> Paid on ChargeCard completed
            set data.paid = data.paid + event.amount

        # Guards on one outcome are tried in order; the unguarded one last.
        # Only a new card helps against a hard decline or an expired card.
        transition hard_decline: Charging -> Waiting on ChargeCard failed
            when event.reason == "hard_decline" or event.reason == "expired_card"
            set data.card_refused = true
        transition declined: Charging -> Waiting on ChargeCard failed
            when data.declines < 2
            set data.declines = data.declines + 1
        transition exhausted: Charging -> Declined on ChargeCard failed
            set data.declines = data.declines + 1

        # Only the rest is charged: transfers may have paid a part.
        transition retry: Waiting -> Charging on after 3d
            when not data.card_refused
            run ChargeCard(
                subscription_id = key,
                invoice_id = data.invoice_id,
                card_id = data.card_id,
                amount = data.amount - data.paid,
                attempt = data.declines + 1,
            )
        # Re-entering the refused card changes nothing.
        transition new_card: Waiting -> Charging on CardUpdated
            when event.card_id != data.card_id
            run ChargeCard(
                subscription_id = key,
                invoice_id = data.invoice_id,
                card_id = event.card_id,
                amount = data.amount - data.paid,
                attempt = data.declines + 1,
            )
            set data.card_id = event.card_id, data.card_refused = false

        # A deadline from data, scheduled on entering `Waiting`: a timer due
        # at `data.grace_until` (already past: due at once).
        transition lapse: Waiting -> Lapsed on at data.grace_until
    }

    # Transfers are counted whatever the card is doing: a machine of their own.
    machine Transfers {
        states Open, Settled
        initial Open
        final Settled

        # A guard on the payment's invoice id: another invoice's payment is
        # recorded and changes nothing here.
        transition settle: Open -> Settled on PaymentReceived
            when event.invoice_id == data.invoice_id and data.amount <= data.paid + event.amount
            set data.paid = data.paid + event.amount
        transition part: Open -> Open on PaymentReceived
            when event.invoice_id == data.invoice_id
            set data.paid = data.paid + event.amount
    }

    start on InvoiceOverdue

    # Paid in full, by card or transfer, whatever state the machines are in.
    complete when data.paid >= data.amount

    fail when any Invoice in Lapsed or data.declines >= 3
}
