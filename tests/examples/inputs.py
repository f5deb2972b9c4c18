"""The examples' modules and the input events their tests start from.

Shared by the end-to-end tests (``test_*_e2e.py``) and the tests written
with pmc.testing (``test_*_scenarios.py``), which run the same stories.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

from tests.examples.support import example


def dunning() -> ModuleType:
    return example("dunning")


def provisioning() -> ModuleType:
    return example("provisioning")


def rollout() -> ModuleType:
    return example("region_rollout")


def trip() -> ModuleType:
    return example("trip_booking")


def invoice_overdue(now: datetime, grace: timedelta) -> Any:
    """Invoice inv-1 of subscription s1 is overdue at ``now``; it lapses ``grace`` later."""
    return dunning().InvoiceOverdue(
        subscription_id="s1",
        invoice_id="inv-1",
        amount=Decimal("100.00"),
        card_id="card-1",
        grace_until=now + grace,
    )


def cluster_requested(nodes: list[str]) -> Any:
    return provisioning().ClusterRequested(
        request_id=7, cidr="10.0.0.0/24", region="eu-west", nodes=nodes, labels={}
    )


def rollout_started(regions: list[str], frozen: list[str], healthy_probes: int) -> Any:
    """Rollout r1 of v2 (from v1), the canary eu."""
    return rollout().RolloutStarted(
        rollout_id="r1",
        version="v2",
        previous="v1",
        regions=regions,
        canary="eu",
        frozen=frozen,
        healthy_probes=healthy_probes,
    )


def trip_requested(extras: list[str]) -> Any:
    return trip().TripRequested(
        trip_id="t1",
        traveller="Ada",
        destination="Lisbon",
        flight_offer="TP123",
        hotel_offer="alfama-3",
        nights=3,
        extras=extras,
    )
