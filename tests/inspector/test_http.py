"""Every route of the inspector over HTTP: what it shows, what it refuses, and what it escapes.

The pages show what ``Operations`` answers (the JSON routes serve its
``to_json()`` as it is); names from the ``.pm`` file and keys, machine ids
and payloads from the stream are text on the page, never markup.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urljoin

import httpx2
import pytest
import sqlalchemy.exc
from starlette.testclient import TestClient

from pmc.cli.ui import served_hosts
from pmc.inspector import Settings, app, create_app
from pmc.runtime.operations import Operations
from pmc.runtime.stores import open_store
from tests.inspector.support import (
    ACTOR,
    HOSTILE_HOST,
    HOSTILE_KEY,
    LONG_KEY,
    TOKEN,
    Inspector,
    inspector,
)
from tests.operations.support import Desk, DeskTasks
from tests.runtime.support import Passing, fail_first


@pytest.fixture
def ui(store_url: str) -> Iterator[Inspector]:
    """The inspector on each store: memory, SQLite and PostgreSQL (``tests/conftest.py``)."""
    store = open_store(store_url)
    store.init()
    yield inspector(store)
    store.close()


def page_of(key: str) -> str:
    return "/instances/" + quote(key, safe="")


def message_of(page: str) -> list[str]:
    """The message an action's answer shows: done, refused or an error."""
    return re.findall(r'id="(?:done|refused|error)">([^<]*)<', page)


def text_of(markup: str) -> str:
    """A page's text as a reader sees it: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


# ---- the list -------------------------------------------------------------------------


def test_the_list_shows_every_instance_with_links_and_counts(ui: Inspector) -> None:
    response = ui.client.get("/")
    assert response.status_code == 200
    for key in ("t1", "t2", "t3"):
        assert f'<a href="/instances/{key}">{key}</a>' in response.text
    counts = re.search(r'<table id="counts-status">(.*?)</table>', response.text, re.S)
    assert counts is not None
    assert "running5" in text_of(counts.group(1)).replace(" ", "").replace("\n", "")
    by_state = re.search(r'<table id="counts-state">(.*?)</table>', response.text, re.S)
    assert by_state is not None
    assert "Ticket.Notifying5" in text_of(by_state.group(1)).replace("\n", "").replace(" ", "")
    assert "Host.Closing1" in text_of(by_state.group(1)).replace("\n", "").replace(" ", "")


def test_filters_select_as_pmc_ps_does(ui: Inspector) -> None:
    ui.act("cancel", "t2")
    cancelled = ui.client.get("/", params={"status": "cancelled"}).text
    assert 'href="/instances/t2"' in cancelled
    assert 'href="/instances/t1"' not in cancelled
    closing = ui.client.get("/", params={"state": "Host.Closing"}).text
    assert 'href="/instances/t1"' in closing
    assert 'href="/instances/t3"' not in closing
    stuck = ui.client.get("/", params={"stuck_for": "1d"}).text
    assert 'id="no-instances"' in stuck


def test_pages_follow_each_other_by_key(ui: Inspector) -> None:
    first = ui.client.get("/", params={"limit": "2"}).text
    next_link = re.search(r'id="next-page" href="([^"]+)"', first)
    assert next_link is not None
    second = ui.client.get(html.unescape(next_link.group(1))).text
    first_keys = re.findall(r'<td class="key"><a href="([^"]+)"', first)
    second_keys = re.findall(r'<td class="key"><a href="([^"]+)"', second)
    assert len(first_keys) == len(second_keys) == 2
    assert not set(first_keys) & set(second_keys)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "asleep"}, "unknown status 'asleep'"),
        ({"state": "Ticket"}, "state: `Ticket` names no state"),
        ({"state": "Order.New"}, "OpDesk has no machine 'Order'"),
        ({"state": "Ticket.Gone'; DROP TABLE x;--"}, "machine Ticket has no state"),
        ({"stuck_for": "10"}, "stuck-for: `10` is not a duration"),
        ({"stuck_for": "0m"}, "stuck-for must be longer than 0s"),
        ({"limit": "many"}, "limit must be a number, not 'many'"),
        ({"limit": "0"}, "limit must be between 1 and 1000, got 0"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_what_is_wrong(
    ui: Inspector, params: dict[str, str], message: str
) -> None:
    response = ui.client.get("/", params=params)
    assert response.status_code == 400
    assert message in text_of(response.text)
    api = ui.client.get("/api/instances", params=params)
    assert api.status_code == 400
    assert message in api.json()["error"]


def test_the_counts_say_when_they_counted_only_the_first_instances(
    ui: Inspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app, "COUNT_LIMIT", 2)
    monkeypatch.setattr(app, "MAX_LIMIT", 1)  # rows read a page at a time
    assert "By status (first 2)" in ui.client.get("/").text


def test_the_json_list_is_what_pmc_ps_prints(ui: Inspector) -> None:
    response = ui.client.get("/api/instances", params={"limit": "2", "status": "running"})
    expected = ui.desk.ops.instances(limit=2, status="running").to_json()
    assert response.json() == expected


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


def test_following_next_page_lists_every_instance_once(ui: Inspector) -> None:
    # `after` is taken as it is, not stripped as other query values: a page ending at
    # " t0" (a key with a space, sorted first) must not go on after "t0", skipping
    # every key in between.
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


# ---- an instance ----------------------------------------------------------------------


def test_the_instance_page_shows_the_instance_on_its_diagram(ui: Inspector) -> None:
    response = ui.client.get("/instances/t1")
    assert response.status_code == 200
    page = response.text
    ticket = re.search(r'<g class="machine" data-machine="Ticket">(.*?)</g>\n</g>', page, re.S)
    assert ticket is not None
    assert '<g class="state current" data-state="Notifying">' in ticket.group(1)
    assert '<g class="state" data-state="New">' in ticket.group(1)
    # Host is a machine of many instances: its state lists them.
    assert '<g class="state current" data-state="Closing">' in page
    shown = text_of(page)
    assert HOSTILE_HOST + ", h1" in shown  # machine ids in order
    assert "Notify" in shown and "Close" in shown  # the tasks in flight
    assert "escalate" in shown  # a transition's name on the diagram
    assert page.count("<details>") == len(ui.desk.ops.describe("t1").timeline)


def test_the_json_instance_is_what_pmc_show_prints(ui: Inspector) -> None:
    response = ui.client.get("/api/instances/t1")
    assert response.json() == ui.desk.ops.describe("t1").to_json()


@pytest.mark.parametrize("key", ["nobody", "x' OR '1'='1", "a/b/../c", "50%"])
def test_an_unknown_key_is_a_404(ui: Inspector, key: str) -> None:
    response = ui.client.get(page_of(key))
    assert response.status_code == 404
    assert f"no OpDesk instance with key {key!r}" in text_of(response.text)
    assert ui.client.get("/api/instances/" + quote(key, safe="")).status_code == 404


@pytest.mark.parametrize(
    ("key", "message"),
    [("k" * 3000, "key is longer than 255 characters"), ("\x00", "must not contain a NUL")],
)
def test_a_key_no_stream_can_have_is_a_404(ui: Inspector, key: str, message: str) -> None:
    response = ui.client.get(page_of(key))
    assert response.status_code == 404
    assert message in text_of(response.text)
    assert ui.client.get("/api/instances/" + quote(key, safe="")).status_code == 404


@pytest.mark.parametrize("key", [HOSTILE_KEY, LONG_KEY])
def test_odd_keys_are_shown_as_text_and_reach_their_instance(ui: Inspector, key: str) -> None:
    listed = ui.client.get("/").text
    assert f'href="{page_of(key)}"' in listed
    page = ui.client.get(page_of(key))
    assert page.status_code == 200
    assert key in text_of(page.text)
    assert ui.client.get("/api/instances/" + quote(key, safe="")).json()["key"] == key


def test_a_key_with_controls_is_shown_as_pmc_ps_shows_it(ui: Inspector) -> None:
    ui.desk.open(" a\tb\nc ")
    shown = " a\\x09b\\x0ac "  # controls escaped, spaces kept (the page keeps them: pre-wrap)
    assert f">{shown}</a>" in ui.client.get("/").text
    page = ui.client.get(page_of(" a\tb\nc ")).text
    assert f'<h2 class="key">{shown}</h2>' in page
    assert 'name="key" value=" a\tb\nc "' in page  # the form sends the key itself


def test_nothing_from_the_stream_becomes_markup(ui: Inspector) -> None:
    pages = [ui.client.get("/").text, ui.client.get(page_of(HOSTILE_KEY)).text]
    pages.append(ui.client.get("/instances/t1").text)
    for page in pages:
        assert "<script>" not in page
        assert "<img" not in page
    assert HOSTILE_HOST in text_of(pages[2])


def test_a_key_with_a_line_break_has_a_page(ui: Inspector) -> None:
    # Listed with a link, so its route matches it too: not a bare "Not Found".
    ui.desk.open("a\nb")
    assert ui.client.get("/instances/a%0Ab").status_code == 200
    assert ui.client.get("/api/instances/a%0Ab").status_code == 200


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


# ---- actions --------------------------------------------------------------------------


def test_read_only_offers_no_action_and_refuses_every_post() -> None:
    ui = inspector(open_store("memory://"), allow_actions=False)
    page = ui.client.get("/instances/t1").text
    assert "<form" not in page
    assert "read-only" in page
    for action in ("cancel", "retry", "fire", "move"):
        status, text = ui.act(action, "t1", task="Notify", transition="escalate", to="Ticket.Done")
        assert status == 403
        assert "--allow-actions" in text_of(text)
    assert ui.desk.ops.describe("t1").status == "running"
    assert [ui.client.post(url).status_code for url in ("/", "/instances/t1")] == [405, 405]


def test_cancel_is_recorded_with_who_and_why_and_shown_on_the_timeline(ui: Inspector) -> None:
    status, page = ui.act("cancel", "t3")
    assert status == 200
    assert "cancel recorded" in text_of(page)
    described = ui.desk.ops.describe("t3")
    assert described.status == "cancelled"
    operator = [entry for entry in described.timeline if entry.type.endswith("OperatorCancelled")]
    assert operator[0].payload["by"] == ACTOR["by"]
    assert operator[0].payload["reason"] == ACTOR["reason"]
    assert "OperatorCancelled" in text_of(page)
    assert "ticket &lt;42&gt; is urgent" in page


def test_move_fire_and_retry_are_recorded_and_shown_on_the_timeline(ui: Inspector) -> None:
    assert ui.act("move", "t1", to="Ticket.Waiting")[0] == 200
    assert ui.desk.ops.describe("t1").states["Ticket"]["Ticket"] == "Waiting"
    status, page = ui.act("fire", "t1", transition="escalate")
    assert status == 200
    assert ui.desk.ops.describe("t1").states["Ticket"]["Ticket"] == "Escalated"
    timeline = re.findall(r"<summary>([^<]*)</summary>", page)
    assert timeline == [entry.type for entry in ui.desk.ops.describe("t1").timeline]
    assert timeline.index("OpDesk.pmc:OperatorMoved") < timeline.index(
        "OpDesk.pmc:OperatorFiredTimer"
    )
    # Notify's retry is not waiting for its time, nor has it failed for good.
    status, page = ui.act("retry", "t1", task="Notify")
    assert status == 409
    assert "OperatorRetried" not in page


def test_an_action_answers_with_a_redirect_to_the_instance_page(ui: Inspector) -> None:
    form = {"csrf": TOKEN, "key": " t2 ", **ACTOR}
    ui.desk.open(" t2 ")
    response = ui.client.post("/actions/cancel", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/instance?key=+t2+&done=cancel+recorded")


def test_a_refused_action_is_a_message_not_an_error(ui: Inspector) -> None:
    ui.act("cancel", "t2")
    status, page = ui.act("cancel", "t2")
    assert status == 409
    refused = re.search(r'id="refused">([^<]*)<', page)
    assert refused is not None and "t2" in html.unescape(refused.group(1))


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"csrf": ""}, 403, "CSRF token is missing or wrong"),
        ({"csrf": TOKEN + "x"}, 403, "CSRF token is missing or wrong"),
        ({"reason": ""}, 400, "say who acts (by) and why (reason)"),
        ({"key": ""}, 400, "the form names no instance"),
        ({"key": "nobody"}, 404, "no OpDesk instance with key 'nobody'"),
    ],
)
def test_a_bad_form_records_nothing(
    ui: Inspector, form: dict[str, str], status: int, message: str
) -> None:
    before = ui.desk.ops.describe("t1").version
    sent = {"csrf": TOKEN, "key": "t1", **ACTOR, **form}
    response = ui.client.post("/actions/cancel", data=sent)
    assert response.status_code == status
    assert message in text_of(response.text)
    assert ui.desk.ops.describe("t1").version == before


def test_an_unknown_action_or_state_is_a_400(ui: Inspector) -> None:
    assert ui.act("delete", "t1")[0] == 400
    status, page = ui.act("move", "t1", to="Ticket")
    assert status == 400
    assert "to: `Ticket` names no state" in text_of(page)


def test_a_post_from_another_origin_is_refused(ui: Inspector) -> None:
    form = {"csrf": TOKEN, "key": "t1", **ACTOR}
    response = ui.client.post(
        "/actions/cancel", data=form, headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 403
    assert "another origin" in text_of(response.text)
    assert ui.desk.ops.describe("t1").status == "running"


def test_a_post_from_the_same_host_by_another_scheme_is_refused(ui: Inspector) -> None:
    form = {"csrf": TOKEN, "key": "t1", **ACTOR}
    response = ui.client.post(
        "/actions/cancel", data=form, headers={"Origin": "https://testserver"}
    )
    assert response.status_code == 403
    assert ui.client.post(
        "/actions/cancel", data=form, headers={"Origin": "http://testserver"}
    ).is_success
    assert ui.desk.ops.describe("t1").status == "cancelled"


def test_a_request_for_another_host_name_is_refused(ui: Inspector) -> None:
    # A page of another site whose name was made to resolve to this server.
    response = ui.client.get("/", headers={"Host": "rebound.example"})
    assert response.status_code == 400
    assert "rebound" not in response.text


@pytest.mark.parametrize("url", ["/", "/instances/t1", "/api/instances", "/inspector.css"])
def test_no_answer_can_be_framed_or_load_from_elsewhere(ui: Inspector, url: str) -> None:
    for headers in ({}, {"Host": "rebound.example"}):  # refused answers too
        response = ui.client.get(url, headers=headers)
        assert response.headers["x-frame-options"] == "DENY"
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert ui.client.get("/inspector.css").headers["content-type"].startswith("text/css")


def test_a_task_not_waiting_for_a_retry_has_no_retry_button(ui: Inspector) -> None:
    page = ui.client.get("/instances/t1").text
    row = re.search(r'<table id="tasks">.*?</table>', page, re.S)
    assert row is not None and "Notify" in row.group(0)
    assert "retry_scheduled" not in row.group(0)
    assert 'action="/actions/retry"' not in row.group(0)


def test_a_retry_waiting_for_its_time_is_made_due_from_its_row(store_url: str) -> None:
    store = open_store(store_url)
    store.init()
    ui = inspector(store)
    failing = Desk(store, DeskTasks(notify=fail_first(1)))
    failing.open("r1")
    failing.worker.drain()
    page = ui.client.get("/instances/r1").text
    # The task's row shows its next attempt and when, with a button to run it now.
    row = re.search(r'<table id="tasks">.*?</table>', page, re.S)
    assert row is not None
    assert "Notify" in row.group(0) and "retry_scheduled" in row.group(0)
    assert 'action="/actions/retry"' in row.group(0)

    status, after = ui.act("retry", "r1", task="Notify", machine_id="Ticket")

    assert status == 200
    assert "retry recorded (OpDesk.pmc:OperatorRetried)" in text_of(after)
    assert "<summary>OpDesk.pmc:OperatorRetried</summary>" in after
    store.close()


def test_a_page_waiting_on_the_store_holds_up_no_other_page(store_url: str) -> None:
    # Pages read the store in the server's thread pool: were they read on its
    # event loop, the page of t2 would wait for t1's, and t1's read waits for t2's.
    store = open_store(store_url)
    store.init()
    desk = Desk(store)
    desk.open("t1")
    desk.open("t2")
    t2_answered = threading.Event()

    class SlowForT1(Passing):
        def load(self, category: str, key: str, *args: Any, **kwargs: Any) -> Any:
            if key == "t1":
                assert t2_answered.wait(30), "t2's page waited for t1's"
            return self._store.load(category, key, *args, **kwargs)

    operations = Operations(desk.definition, SlowForT1(store))
    settings = app.Settings(hosts=("testserver",), csrf_token=TOKEN)
    served = app.create_app(operations, settings)

    async def both() -> list[int]:
        transport = httpx2.ASGITransport(app=served)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:

            async def t2() -> int:
                response = await client.get("/instances/t2")
                t2_answered.set()
                return response.status_code

            t1_page, t2_status = await asyncio.gather(client.get("/instances/t1"), t2())
            return [t1_page.status_code, t2_status]

    try:
        statuses = asyncio.run(both())
    finally:
        store.close()
    assert statuses == [200, 200]


def test_an_action_acts_on_the_key_of_the_page_not_on_its_trimmed_twin(ui: Inspector) -> None:
    # Keys come from the stream: " t2 " and "t2" are two instances. The cancel
    # form of " t2 "'s page must cancel " t2 ", and leave "t2" alone.
    ui.desk.open(" t2 ")
    status, page = ui.act("cancel", " t2 ")
    assert status == 200, message_of(page)
    assert ui.desk.ops.describe(" t2 ").status == "cancelled"
    assert ui.desk.ops.describe("t2").status == "running"


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


def test_a_form_sent_twice_is_recorded_once(ui: Inspector) -> None:
    # A double click, or the browser's "resend" on reloading the answer to a POST (no
    # redirect follows an action): Operations deduplicates by the action_id each form sends.
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
