"""``pmc ui`` as an operator starts it: what it serves, what it warns about, what it needs.

``uvicorn.run`` is replaced by a recorder: these tests check what the
command hands the server, not the serving (``test_browser.py`` does that).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient
from typer.testing import CliRunner

from pmc.cli import app
from pmc.cli.ui import served_hosts
from tests.inspector.support import desk_project


@dataclass
class Served:
    calls: list[dict[str, Any]] = field(default_factory=list)
    reached_as: str | None = None  # the name requests carry; the --host address if None

    def run(self, inspector: Any, **options: Any) -> None:
        # The store is open while the server runs: ask for the list now.
        name = self.reached_as or options["host"]
        page = TestClient(inspector, base_url=f"http://{name}").get("/")
        self.calls.append({"status": page.status_code, "page": page.text, **options})


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    store = desk_project(tmp_path, ("t1",))
    monkeypatch.chdir(tmp_path)
    yield store
    sys.modules.pop("op_ui_desk", None)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    recorder = Served()
    monkeypatch.setattr(uvicorn, "run", recorder.run)
    return recorder


def ui(*args: str) -> Any:
    return CliRunner().invoke(app, ["ui", "op_ui_desk", *args], catch_exceptions=False)


def test_serves_read_only_on_loopback_by_default(project: str, served: Served) -> None:
    result = ui("--store", project)
    assert result.exit_code == 0
    [call] = served.calls
    assert (call["host"], call["port"], call["status"]) == ("127.0.0.1", 8765, 200)
    assert "read-only" in call["page"] and 'href="/instances/t1"' in call["page"]
    assert result.stderr == "pmc ui: OpUiDesk on http://127.0.0.1:8765/ (read-only); Ctrl-C stops\n"


def test_another_address_is_warned_about(project: str, served: Served) -> None:
    result = ui("--store", project, "--host", "10.1.2.3", "--port", "9000", "--allow-actions")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "warning: listening on 10.1.2.3, not loopback: the inspector has no login, "
        "whoever reaches this port reads every instance and can act on it\n"
    )
    assert served.calls[0]["status"] == 200  # the address it listens on is a name it answers


def test_listening_on_every_address_answers_the_names_given(project: str, served: Served) -> None:
    served.reached_as = "ops.example"
    ui("--store", project, "--host", "0.0.0.0", "--hostname", "ops.example")
    served.reached_as = "evil.example"
    ui("--store", project, "--host", "0.0.0.0", "--hostname", "ops.example")
    assert [call["status"] for call in served.calls] == [200, 400]
    assert "--hostname NAME" in ui("--store", project, "--host", "0.0.0.0").stderr


def test_the_host_names_served() -> None:
    assert served_hosts("127.0.0.1") == ("127.0.0.1", "localhost", "[::1]")
    assert served_hosts("10.1.2.3") == ("10.1.2.3", "127.0.0.1", "localhost", "[::1]")
    assert served_hosts("fd00::7") == ("[fd00::7]", "127.0.0.1", "localhost", "[::1]")
    assert served_hosts("0.0.0.0") == ("127.0.0.1", "localhost", "[::1]")
    assert served_hosts("::", ("ops.example", "10.0.0.5")) == (
        "127.0.0.1",
        "localhost",
        "[::1]",
        "ops.example",
        "10.0.0.5",
    )


def test_a_missing_store_is_an_error(project: str, served: Served, tmp_path: Path) -> None:
    result = ui("--store", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert result.exit_code == 2
    assert "error: no store at" in result.stderr
    assert served.calls == []


def test_a_store_that_cannot_answer_is_an_error_at_start(project: str, served: Served) -> None:
    result = ui("--store", "postgresql://nobody@127.0.0.1:1/nothing")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot read postgresql://nobody@127.0.0.1:1/nothing: ")
    assert "refused" in result.stderr
    assert served.calls == []


def test_a_port_in_use_is_an_error_at_start(project: str, served: Served) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = ui("--store", project, "--port", str(port))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert served.calls == []


def test_without_the_ui_extra_the_error_says_how_to_install_it(
    project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    result = ui("--store", project)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: `pmc ui` needs the ui extra (uvicorn is not installed)\n"
        "help: pip install 'event-sourcery-pmc[ui]'\n"
    )
