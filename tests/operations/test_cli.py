"""``pmc cancel|retry|fire|move`` as an operator runs them: exit codes, stdout and stderr.

A project directory holds the generated module of ``fixtures/desk.pm``
(renamed ``OpCliDesk``: event-sourcery keeps one class per stored name, and
the other tests import ``OpDesk``) and an SQLite store with opened tickets.
The typer app runs in this process; two tests run the real ``pmc``. Each
test acts on its own tickets: they pass in any order.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pmc.cli.shared import resolve
from pmc.runtime import ProcessManager
from pmc.runtime.stores import open_store
from tests.cli_run import Run, pmc_here
from tests.codegen.support import compile_text
from tests.operations.support import DESK_SOURCE

SOURCE = DESK_SOURCE.replace("process OpDesk", "process OpCliDesk")
ACTOR = ("--by", "ann", "--reason", "ticket 42 is urgent")


@dataclass(frozen=True)
class Project:
    directory: Path
    store: str

    def cli(self, *args: str) -> Run:
        return pmc_here(*args, cwd=self.directory)

    def act(self, command: str, key: str, *args: str) -> Run:
        return self.cli(command, "op_cli_desk", key, *args, "--store", self.store, *ACTOR)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("operate")
    (directory / "op_cli_desk.py").write_text(compile_text(SOURCE, "desk.pm"), "utf-8")
    url = f"sqlite:///{directory / 'store.db'}"
    previous = Path.cwd()
    os.chdir(directory)
    try:
        definition = resolve("op_cli_desk")  # the module the CLI imports too
    finally:
        os.chdir(previous)
    module = sys.modules["op_cli_desk"]
    store = open_store(url)
    manager = ProcessManager(definition, store)
    for key in (*(f"t{n}" for n in range(1, 9)), "it's ü%_"):
        manager.handle(module.Opened(ticket_id=key, hosts=["h1"]))
    store.close()
    yield Project(directory, url)


def test_cancel_prints_what_it_recorded(project: Project) -> None:
    run = project.act("cancel", "t1")

    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout == (
        "OpCliDesk t1: cancel recorded, stream at version 6\n"
        "  OpCliDesk.pmc:OperatorCancelled\n"
        "  OpCliDesk.ProcessCancelled\n"
    )


def test_an_action_that_does_not_apply_exits_1_and_says_why(project: Project) -> None:
    project.act("cancel", "t2")

    run = project.act("cancel", "t2")

    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == (
        "error: OpCliDesk t2 has ended (cancelled: cancelled by ann: ticket 42 is urgent):"
        " no action applies to it\n"
    )
    unknown = project.act("cancel", "t9")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "error: no OpCliDesk process has the key 't9'\n",
    )


def test_an_action_repeated_with_its_id_records_nothing_again(project: Project) -> None:
    first = project.act("cancel", "t3", "--id", "op-1", "--format", "json")
    again = project.act("cancel", "t3", "--id", "op-1", "--format", "json")

    assert (first.exit_code, again.exit_code) == (0, 0)
    recorded, repeated = json.loads(first.stdout), json.loads(again.stdout)
    assert [e["event"] for e in recorded["events"]] == [
        "OpCliDesk.pmc:OperatorCancelled",
        "OpCliDesk.ProcessCancelled",
    ]
    assert recorded["deduplicated"] is False
    assert (repeated["deduplicated"], repeated["events"]) == (True, [])
    assert repeated["event_id"] == recorded["event_id"]


def test_move_then_fire_then_a_refused_retry(project: Project) -> None:
    moved = project.act("move", "t4", "Ticket.Waiting", "--format", "json")
    fired = project.act("fire", "t4", "escalate", "--format", "json")
    retried = project.act("retry", "t4", "Close", "--machine-id", "h2")

    assert (moved.exit_code, fired.exit_code) == (0, 0)
    assert [e["event"] for e in json.loads(moved.stdout)["events"]] == [
        "OpCliDesk.pmc:OperatorMoved",
        "OpCliDesk.TimerScheduled",
    ]
    assert [e["event"] for e in json.loads(fired.stdout)["events"]] == [
        "OpCliDesk.pmc:OperatorFiredTimer",
        "OpCliDesk.TimerFired",
        "OpCliDesk.TransitionPlanned",
    ]
    assert retried.exit_code == 1
    assert retried.stderr.startswith("error: OpCliDesk t4: nothing to retry: task `Close`")


def test_by_defaults_to_the_os_user(project: Project) -> None:
    run = project.cli(
        "retry", "op_cli_desk", "t5", "Notify", "--store", project.store, "--reason", "now"
    )

    # Notify is planned, not waiting: refused, but the refusal needed no --by.
    assert run.exit_code == 1, run.stderr
    moved = project.cli(
        "move", "op_cli_desk", "t5", "Host.Closed", "--machine-id", "h1",
        "--store", project.store, "--reason", "closed by hand", "--format", "json",
    )  # fmt: skip
    assert moved.exit_code == 0, moved.stderr
    assert json.loads(moved.stdout)["events"][0]["payload"]["by"] == getpass.getuser()


def test_a_key_with_quotes_unicode_and_percent_is_one_stream(project: Project) -> None:
    run = project.act("move", "it's ü%_", "Ticket.Waiting")

    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout.startswith("OpCliDesk it's ü%_: move recorded")


def test_usage_errors_exit_2(project: Project) -> None:
    bad_to = project.act("move", "t6", "Waiting")
    assert (bad_to.exit_code, bad_to.stderr) == (
        2,
        "error: TO is `Machine.State`, not 'Waiting'\nhelp: e.g. `Ticket.Waiting`\n",
    )
    no_store = project.cli("cancel", "op_cli_desk", "t6", "--store", "sqlite:///nowhere.db", *ACTOR)
    assert no_store.exit_code == 2
    assert (
        no_store.stderr == "error: no store at sqlite:///nowhere.db: `nowhere.db` does not exist\n"
    )
    no_reason = project.cli("cancel", "op_cli_desk", "t6", "--store", project.store)
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.stderr


def test_the_real_pmc_cancels(project: Project) -> None:
    command = ["cancel", "op_cli_desk", "t7", "--store", project.store, *ACTOR]
    completed = subprocess.run(
        [sys.executable, "-m", "pmc", *command],
        capture_output=True,
        text=True,
        cwd=project.directory,
        timeout=120,
    )

    assert (completed.returncode, completed.stderr) == (0, "")
    assert completed.stdout.splitlines()[1:] == [
        "  OpCliDesk.pmc:OperatorCancelled",
        "  OpCliDesk.ProcessCancelled",
    ]


def test_without_by_and_without_an_os_user_the_cli_asks_for_by(project: Project) -> None:
    """In a container under a uid with no passwd entry and no $USER,
    ``getpass.getuser()`` raises: a usage error, not a bug in pmc."""
    # getpass.getuser() as it fails there (KeyError before Python 3.13, OSError after).
    no_user = (
        "import getpass, sys\n"
        "def nobody(): raise OSError('No username set in the environment')\n"
        "getpass.getuser = nobody\n"
        "from pmc.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    command = ["cancel", "op_cli_desk", "t8", "--store", project.store, "--reason", "why"]
    completed = subprocess.run(
        [sys.executable, "-c", no_user, *command],
        capture_output=True,
        text=True,
        cwd=project.directory,
        timeout=120,
    )

    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr == "error: no OS user to record: pass --by WHO\n"
