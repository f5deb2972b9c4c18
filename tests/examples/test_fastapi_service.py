"""examples/fastapi_service: a webhook feeding a process, its worker in the app's lifespan.

Driven through FastAPI's ``TestClient``, which runs the lifespan (and so the
``AsyncWorker``) on the event loop it serves the requests on.
"""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from httpx2 import Response

from examples.fastapi_service.app import CloudTasks, create_app
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from tests.runtime.support import definition, names, seed

FAILED = {"rebase_id": "r1", "instances": ["A", "B"], "reason": "conflict in main.py"}


def until_ended(client: TestClient, rebase_id: str) -> dict[str, object]:
    """The rebase's view once its process has ended (polled; bounded)."""
    for _ in range(1000):
        view: dict[str, object] = client.get(f"/rebases/{rebase_id}").json()
        if view["end"] is not None:
            return view
        time.sleep(0.01)
    raise AssertionError(f"{rebase_id} did not end")


def recorded(store_url: str, rebase_id: str) -> list[str]:
    """The names of the events recorded in the rebase's stream, read from a store of its own."""
    store = open_store(store_url)
    try:
        return names(ProcessManager(definition(seed()), store).history(rebase_id))
    finally:
        store.close()


def test_a_redelivered_webhook_is_recorded_once_and_the_worker_ends_the_process(
    store_url: str,
) -> None:
    tasks = CloudTasks()
    app = create_app(seed(), store_url, tasks)

    with TestClient(app) as client:
        first = client.post("/webhooks/rebase-failed", json=FAILED, headers={"X-Delivery-Id": "d1"})
        again = client.post("/webhooks/rebase-failed", json=FAILED, headers={"X-Delivery-Id": "d1"})
        view = until_ended(client, "r1")

    assert (first.status_code, first.json()["status"]) == (202, "recorded")
    assert (again.status_code, again.json()["status"]) == (202, "deduplicated")
    assert again.json()["event_id"] == first.json()["event_id"]
    assert view == {
        "rebase_id": "r1",
        "end": "completed",
        "instances": {"Instance": {"A": "Closed", "B": "Closed"}},
    }
    assert sorted(tasks.closed) == ["A", "B"]
    history = recorded(store_url, "r1")
    assert history.count("RebaseFailed") == 1
    assert history.count("TaskCompleted") == 2


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
    assert "RebaseFailed" not in recorded(store_url, "r2")


def test_bad_requests_get_clear_answers(store_url: str) -> None:
    with TestClient(create_app(seed(), store_url)) as client:
        no_delivery_id = client.post("/webhooks/rebase-failed", json=FAILED)
        bad_event = client.post(
            "/webhooks/rebase-failed",
            json={"rebase_id": "r1", "instances": "A"},
            headers={"X-Delivery-Id": "d1"},
        )
        unknown = client.get("/rebases/nope")

    assert no_delivery_id.status_code == 422
    assert no_delivery_id.json()["detail"][0]["loc"] == ["header", "x-delivery-id"]
    assert bad_event.status_code == 422
    assert bad_event.json()["detail"][0]["loc"] == ["instances"]
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no rebase 'nope'"})


def test_keys_and_text_no_store_can_hold_get_a_422_naming_them(store_url: str) -> None:
    def failed(rebase_id: str, instance: str = "A") -> bytes:
        # Sent as raw JSON: an HTTP client will not encode a lone surrogate itself.
        text = json.dumps({"rebase_id": rebase_id, "instances": [instance]})
        return text.encode("ascii")

    def post(body: bytes, delivery_id: str) -> Response:
        headers = {"X-Delivery-Id": delivery_id, "Content-Type": "application/json"}
        return client.post("/webhooks/rebase-failed", content=body, headers=headers)

    with TestClient(create_app(seed(), store_url)) as client:
        lone_surrogate = post(failed("r\ud800"), "d1")
        too_long = post(failed("r" * 300), "d2")
        in_the_event = post(failed("r1", "A\ud800"), "d3")
        looked_up = client.get("/rebases/" + "r" * 300)

    assert (lone_surrogate.status_code, lone_surrogate.json()) == (
        422,
        {"detail": "key must not contain a lone surrogate (\\ud800): 'r\\ud800'"},
    )
    assert too_long.status_code == looked_up.status_code == 422
    assert too_long.json()["detail"].startswith("key is longer than 255 characters")
    assert in_the_event.status_code == 422
    assert "RebaseFailed contains a lone surrogate" in in_the_event.json()["detail"]
