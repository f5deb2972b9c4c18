"""The instance index at its edges: long machine ids, late failures, odd input to the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pmc.runtime import contract
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore, open_store
from tests.cli_run import pmc_here as pmc
from tests.fake_clock import FakeClock
from tests.operations.support import Desk
from tests.runtime.support import OrderTasks, definition, order


def test_a_long_machine_id_is_indexed_on_every_store(store: ProcessStore) -> None:
    # Machine ids come from event data (``Opened.hosts``), unbounded: a
    # VARCHAR(255) column made PostgreSQL refuse the process's first append.
    desk = Desk(store)
    host = "relay-" + "x" * 300

    desk.open(hosts=(host,))

    row = store.instance("OpDesk", "t1")
    assert row is not None
    assert row.states["Host"] == {host: "Closing"}


def test_a_machine_id_larger_than_a_database_index_entry_is_indexed(store: ProcessStore) -> None:
    # An index entry of PostgreSQL's btree holds at most about 2.7 kB, after
    # compression: a 12 kB id that does not compress must still be recorded
    # (the index keys machine instances by a digest of the id).
    desk = Desk(store)
    host = "relay-" + "".join(f"{n * 2654435761 % 2**32:08x}" for n in range(1_500))

    desk.open(hosts=(host,))

    row = store.instance("OpDesk", "t1")
    assert row is not None
    assert row.states["Host"] == {host: "Closing"}


def test_an_attempt_failing_after_a_cancel_is_no_failure_of_the_instance() -> None:
    # Its outcome is late: it changes nothing (docs/operations.md, Cancel).
    store = open_store("memory://", clock=FakeClock())
    desk = Desk(store)
    desk.open()
    (task,) = desk.manager.state("t1").tasks.values()
    m = desk.module
    started = m.TaskStarted(task_id=task.task_id, attempt=1, worker="w")
    desk.manager.record("t1", started, contract.started_id(task.task_id, 1))
    desk.ops.cancel("t1", by="ann", reason="withdrawn")
    failed = m.TaskFailed(
        machine=task.machine,
        machine_id=task.machine_id,
        task_id=task.task_id,
        transition=task.transition,
        attempt=1,
        reason="mail server down",
    )
    desk.manager.record("t1", failed, contract.outcome_id(task.task_id, 1))

    row = store.instance("OpDesk", "t1")
    assert row is not None and row.status == "cancelled"
    assert row.last_failure is None
    assert desk.ops.describe("t1").last_failure is None


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "path", list(sys.path))
    return f"{order().__name__}:RtOrder"


def test_reindex_of_a_mistyped_sqlite_path_is_an_error_not_a_new_store(
    tmp_path: Path, target: str
) -> None:
    missing = tmp_path / "typo.db"

    run = pmc("db", "reindex", target, "--store", f"sqlite:///{missing}")

    # As `pmc ps` and `pmc show`: a typo is not an empty store.
    assert run.exit_code == 2, run.stderr
    assert not missing.exists()


@pytest.mark.parametrize("duration", ["1000000d", "99999999999d"])
def test_ps_with_a_stuck_for_too_long_for_a_date_is_a_usage_error(
    tmp_path: Path, target: str, duration: str
) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    store = open_store(url)
    m = order()
    ProcessManager(definition(m), store, OrderTasks()).handle(m.Placed(order_id="o1", items=["x"]))
    store.close()

    run = pmc("ps", target, "--store", url, "--stuck-for", duration)

    assert run.exit_code == 2
    assert "internal error" not in run.stderr, run.stderr


def test_show_prints_a_machine_id_with_a_space_on_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.operations.support import desk

    monkeypatch.setattr(sys, "path", list(sys.path))
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    store = open_store(url)
    Desk(store).open(hosts=("mail relay",))
    store.close()

    run = pmc("show", f"{desk().__name__}:OpDesk", "t1", "--store", url)

    assert run.exit_code == 0, run.stderr
    states = run.stdout.split("states:\n", 1)[1].split("data:", 1)[0].splitlines()
    assert sorted(states) == ["  Host[mail relay]=Closing", "  Ticket=Notifying"]
