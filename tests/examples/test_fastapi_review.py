"""examples/fastapi_service: what "deduplicated by X-Delivery-Id" means (from a review)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from examples.fastapi_service.app import create_app
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from tests.runtime.support import definition, names, seed

FAILED = {"rebase_id": "r1", "instances": ["A", "B"], "reason": "conflict in main.py"}


def test_a_delivery_id_reused_with_another_body_is_not_silently_dropped(store_url: str) -> None:
    """Same X-Delivery-Id, another payload: not a redelivery. A 409 tells the sender,
    where a 202 "deduplicated" would lose the new payload without a word."""
    other = {**FAILED, "instances": ["C"], "reason": "another failure"}
    with TestClient(create_app(seed(), store_url)) as client:
        client.post("/webhooks/rebase-failed", json=FAILED, headers={"X-Delivery-Id": "d1"})
        reused = client.post("/webhooks/rebase-failed", json=other, headers={"X-Delivery-Id": "d1"})

    assert reused.status_code == 409, reused.json()


def test_a_delivery_id_is_recorded_once_whatever_the_rebase(store_url: str) -> None:
    """The sender's delivery id is unique per delivery, not per rebase: the stored id
    derives from the delivery id alone, so a reuse naming another rebase is not
    recorded there."""
    other = {**FAILED, "rebase_id": "r2"}
    with TestClient(create_app(seed(), store_url)) as client:
        first = client.post("/webhooks/rebase-failed", json=FAILED, headers={"X-Delivery-Id": "d1"})
        again = client.post("/webhooks/rebase-failed", json=other, headers={"X-Delivery-Id": "d1"})

    assert first.json()["status"] == "recorded"
    assert again.json()["status"] != "recorded", again.json()
    store = open_store(store_url)
    recorded = ProcessManager(definition(seed()), store).history("r2")
    store.close()
    assert "RebaseFailed" not in names(recorded)
