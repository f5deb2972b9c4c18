"""Defects found in review of the inspector (branch ui): each test fails on ui at c749923.

Tests only, no fixes; each names what an operator or an attacker meets.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pytest
import sqlalchemy.exc
from starlette.testclient import TestClient

from pmc.cli.ui import served_hosts
from pmc.inspector import Settings, create_app
from pmc.runtime.stores import open_store
from tests.inspector.support import TOKEN, Inspector, inspector


@pytest.fixture
def ui() -> Inspector:
    store = open_store("memory://")
    store.init()
    return inspector(store)


def message_of(page: str) -> list[str]:
    return re.findall(r'id="(?:done|refused|error)">([^<]*)<', page)


def test_an_action_acts_on_the_key_of_the_page_not_on_its_trimmed_twin(ui: Inspector) -> None:
    # Keys come from the stream: " t2 " and "t2" are two instances. The cancel
    # form of " t2 "'s page must cancel " t2 ", and leave "t2" alone.
    ui.desk.open(" t2 ")
    status, page = ui.act("cancel", " t2 ")
    assert status == 200, message_of(page)
    assert ui.desk.ops.describe(" t2 ").status == "cancelled"
    assert ui.desk.ops.describe("t2").status == "running"


@pytest.mark.parametrize("key", [".", ".."])
def test_the_list_links_every_key_to_its_own_page(ui: Inspector, key: str) -> None:
    # A browser resolves dot segments of a link (`/instances/..` is `/`), as urljoin does.
    ui.desk.open(key)
    listed = ui.client.get("/").text
    link = r'<td class="key"><a href="([^"]+)">' + re.escape(key) + "</a>"
    [href] = re.findall(link, listed)
    followed = urljoin("http://testserver/", href)
    page = ui.client.get(followed)
    heading = re.search(r'<h2 class="key">([^<]*)</h2>', page.text)
    assert (page.status_code, heading[1] if heading else None) == (200, key), followed


def test_a_key_with_a_line_break_has_a_page(ui: Inspector) -> None:
    # Listed with a link, but the route does not match it: a bare "Not Found".
    ui.desk.open("a\nb")
    assert ui.client.get("/instances/a%0Ab").status_code == 200
    assert ui.client.get("/api/instances/a%0Ab").status_code == 200


def test_listening_on_every_address_a_rebound_page_cannot_act(ui: Inspector) -> None:
    # `pmc ui --host 0.0.0.0 --allow-actions`: a page of evil.example, its name made to
    # resolve to this machine (DNS rebinding), is same-origin to the browser: it reads the
    # token from a page and posts with its own Origin and Host.
    settings = Settings(hosts=served_hosts("0.0.0.0"), allow_actions=True, csrf_token=TOKEN)
    rebound = TestClient(create_app(ui.desk.ops, settings), base_url="http://evil.example:8765")
    page = rebound.get("/instances/t1").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    form = {"csrf": token[1] if token else "", "key": "t1", "by": "x", "reason": "y"}
    rebound.post("/actions/cancel", data=form, headers={"Origin": "http://evil.example:8765"})
    assert ui.desk.ops.describe("t1").status == "running"


def test_a_store_error_is_a_page_that_says_so_not_a_bare_500(
    ui: Inspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database is down (as `pmc ui --store postgresql://...:1/x` starts and serves).
    def down(*args: object, **kwargs: object) -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(ui.desk.ops, "instances", down)
    monkeypatch.setattr(ui.desk.ops, "describe", down)
    client = TestClient(ui.client.app, raise_server_exceptions=False)
    for url in ("/", "/instances/t1", "/api/instances", "/api/instances/t1"):
        response = client.get(url)
        assert response.status_code == 503, (url, response.status_code, response.text[:40])
        assert "connection refused" in response.text


def test_pages_cannot_be_framed_by_another_site(ui: Inspector) -> None:
    # With --allow-actions, a page that frames the inspector can steer an operator's clicks.
    headers = ui.client.get("/instances/t1").headers
    framing = headers.get("x-frame-options", "").upper()
    policy = headers.get("content-security-policy", "")
    assert framing == "DENY" or "frame-ancestors 'none'" in policy


def test_a_form_sent_twice_is_recorded_once(ui: Inspector) -> None:
    # A double click, or the browser's "resend" on reloading the answer to a POST (no
    # redirect follows an action): Operations deduplicates by action_id, the forms send none.
    page = ui.client.get("/instances/t1").text
    move = re.search(r'<form class="action" id="move".*?</form>', page, re.S)
    assert move is not None
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', move[0]))
    form = {**hidden, "by": "ann", "reason": "customer called", "to": "Ticket.Waiting"}
    assert ui.client.post("/actions/move", data=form).status_code == 200
    ui.desk.ops.fire("t1", "escalate", by="bob", reason="no answer")  # the instance goes on
    ui.client.post("/actions/move", data=form)  # the same form, sent again
    moves = [e for e in ui.desk.ops.describe("t1").timeline if e.type.endswith("OperatorMoved")]
    assert len(moves) == 1
    assert ui.desk.ops.describe("t1").states["Ticket"]["Ticket"] == "Escalated"


def test_following_next_page_lists_every_instance_once(ui: Inspector) -> None:
    # The list strips every query value, `after` too: a page ending at " t0" (a key with a
    # space, sorted first) goes on after "t0", skipping every key in between.
    ui.desk.open(" t0")
    seen: list[str] = []
    url: str | None = "/?limit=1"
    while url and len(seen) < 20:
        page = ui.client.get(url).text
        seen += [
            html.unescape(k) for k in re.findall(r'<td class="key"><a [^>]*>([^<]*)</a>', page)
        ]
        found = re.search(r'id="next-page" href="([^"]+)"', page)
        url = html.unescape(found[1]) if found else None
    everything = [row.key for row in ui.desk.ops.instances(limit=1000).items]
    assert seen == everything
