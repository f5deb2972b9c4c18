"""An inspector over OpDesk (``tests/operations/fixtures/desk.pm``) with opened tickets.

``HOSTILE_KEY`` and ``HOSTILE_HOST`` hold what a page must show as text and
never run or parse: markup, quotes, ``&``, unicode; ``LONG_KEY`` a key far
wider than a page (the longest a store takes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.testclient import TestClient

from pmc.inspector import Settings, create_app
from pmc.runtime import ProcessManager
from pmc.runtime.stores import ProcessStore, open_store
from tests.codegen.support import compile_text
from tests.operations.support import DESK_SOURCE, Desk
from tests.runtime.support import compiled

TOKEN = "csrf-token-of-the-test"
HOSTILE_KEY = "<script>alert('k')</script> \"q\" & ü'"
HOSTILE_HOST = "<img src=x onerror=\"alert(1)\"> & 'h'"
# OpDesk renamed, for a project directory `pmc ui` imports it from
# (event-sourcery keeps one class per stored event name).
SOURCE = DESK_SOURCE.replace("process OpDesk", "process OpUiDesk")
LONG_KEY = "k" * 255  # the longest key a store takes
ACTOR = {"by": "ann", "reason": "ticket <42> is urgent"}


@dataclass(frozen=True)
class Inspector:
    desk: Desk
    client: TestClient

    def act(self, action: str, key: str, **fields: str) -> tuple[int, str]:
        form = {"csrf": TOKEN, "key": key, **ACTOR, **fields}
        response = self.client.post(f"/actions/{action}", data=form)
        return response.status_code, response.text


def inspector(store: ProcessStore, *, allow_actions: bool = True) -> Inspector:
    """OpDesk's inspector on ``store``, reached as ``testserver``, with tickets t1..t3
    (t1 with hosts h1 and ``HOSTILE_HOST``), ``HOSTILE_KEY`` and ``LONG_KEY`` opened."""
    desk = Desk(store)
    desk.open("t1", ("h1", HOSTILE_HOST))
    desk.open("t2")
    desk.open("t3")
    desk.open(HOSTILE_KEY)
    desk.open(LONG_KEY)
    settings = Settings(hosts=("testserver",), allow_actions=allow_actions, csrf_token=TOKEN)
    return Inspector(desk, TestClient(create_app(desk.ops, settings)))


def desk_project(directory: Path, keys: tuple[str, ...]) -> str:
    """The URL of an SQLite store in ``directory`` with ``keys`` opened (each with hosts h1, h2)."""
    (directory / "op_ui_desk.py").write_text(compile_text(SOURCE, "desk.pm"), "utf-8")
    module = compiled(SOURCE)
    url = f"sqlite:///{directory / 'store.db'}"
    store = open_store(url)
    store.init()
    manager = ProcessManager(module.DEFINITION, store)
    for key in keys:
        manager.handle(module.Opened(ticket_id=key, hosts=["h1", "h2"]))
    store.close()
    return url
