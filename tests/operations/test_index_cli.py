"""``pmc ps``, ``pmc show`` and ``pmc db reindex`` on an SQLite store, as an operator runs them.

The store is written on a fake clock (times from T0), so the output is
the same on every run; the commands read it on the real clock, which is
later (what is stuck is then stuck).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from pmc.cli.instances import states_text
from pmc.diagnostics.render import escape_text
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operations import Operations, ReindexReport
from pmc.runtime.stores import open_store
from tests.cli_run import Run
from tests.cli_run import pmc_here as pmc
from tests.operations.index_support import forget_index
from tests.operations.test_index import ShipFailsFor, four_orders
from tests.runtime.support import FakeClock, RebaseTasks, definition, order, seed

# Random in every run: event ids, and the names of the workers that ran the tasks.
RANDOM = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?<=inline-|worker-)[0-9a-f]{8}"
)
ODD_KEY = "x'; DROP TABLE pmc_instances; --\x1b[31m"


@pytest.fixture
def url(tmp_path: Path) -> str:
    """An SQLite store holding the four orders of ``four_orders``."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    clock = FakeClock()
    store = open_store(url, clock=clock)
    four_orders(store, clock)
    store.close()
    return url


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "path", list(sys.path))
    return f"{order().__name__}:RtOrder"


def keys_listed(run: Run) -> list[str]:
    return [line.split()[0] for line in run.stdout.splitlines()[1:]]


# ---- pmc ps --------------------------------------------------------------------------------


def test_ps_lists_instances_as_a_table(url: str, target: str, snapshot: SnapshotAssertion) -> None:
    listed = pmc("ps", target, "--store", url)

    assert (listed.exit_code, listed.stderr) == (0, "4 instances of RtOrder\n")
    assert listed.stdout == snapshot


def test_ps_lists_instances_as_json(url: str, target: str) -> None:
    listed = pmc("ps", target, "--store", url, "--format", "json")

    assert listed.exit_code == 0
    page = json.loads(listed.stdout)
    assert [row["key"] for row in page["items"]] == ["done", "gone", "lost", "waiting"]
    assert page["next_after"] is None
    assert page["items"][2]["last_failure"]["reason"] == "no carrier for lost"


def test_ps_filters(url: str, target: str) -> None:
    def listed(*filters: str) -> list[str]:
        run = pmc("ps", target, "--store", url, *filters)
        assert run.exit_code == 0, run.stderr
        return keys_listed(run)

    assert listed("--status", "failed") == ["lost"]
    assert listed("--state", "Order.Shipping") == ["gone", "waiting"]
    assert listed("--state", "Order.Shipping", "--status", "running") == ["waiting"]
    assert listed("--stuck-for", "1h30m") == ["waiting"]  # its Ship was due at T0 + 1 min
    # `waiting` was placed at T0 + 1 min, `gone` withdrawn at T0 + 50 s.
    assert listed("--updated-before", "2026-01-01T12:00:55Z") == ["done", "gone", "lost"]
    assert listed("--updated-before", "2026-01-01T12:00:55") == ["done", "gone", "lost"]  # UTC
    assert listed("--updated-before", "2026-01-01T13:00:55+01:00") == ["done", "gone", "lost"]
    assert listed("--updated-before", "2026-01-01T12:00:50Z") == ["done", "lost"]
    # The store was written on the fake clock, long before the real now.
    assert listed("--updated-before", "1h") == ["done", "gone", "lost", "waiting"]
    assert listed("--updated-before", "36500d") == []


def test_ps_pages(url: str, target: str) -> None:
    first = pmc("ps", target, "--store", url, "--limit", "3")
    rest = pmc("ps", target, "--store", url, "--limit", "3", "--after", "lost")

    assert keys_listed(first) == ["done", "gone", "lost"]
    assert first.stderr == "3 instances of RtOrder; next page: --after lost\n"
    assert keys_listed(rest) == ["waiting"]
    assert rest.stderr == "1 instance of RtOrder\n"


def pasted_into_bash(words: str) -> list[str]:
    """The arguments bash makes of ``words``, as an operator pasting them would get."""
    run = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True, text=True, check=True
    )
    return run.stdout.split("\0")[:-1]


@pytest.mark.parametrize("key", ["a\tb", "a\nb", "it's\\t\x1b[31m", "caf\u00e9\u200b"])
def test_the_next_page_hint_of_an_odd_key_pasted_back_is_that_key(
    tmp_path: Path, target: str, key: str
) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    store = open_store(url)
    m = order()
    manager = ProcessManager(definition(m), store)
    for each in (key, f"{key}0", "~"):
        manager.handle(m.Placed(order_id=each, items=["book"]))
    store.close()

    first = pmc("ps", target, "--store", url, "--limit", "1")
    hint = first.stderr.split("next page: ", 1)[1].removesuffix("\n")
    second = pmc("ps", target, "--store", url, "--limit", "1", *pasted_into_bash(hint))

    # A key shown escaped, pasted back, would be another key, and rows would be skipped.
    assert pasted_into_bash(hint) == ["--after", key]
    assert second.exit_code == 0
    assert keys_listed(second) == [escape_text(f"{key}0")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "Order"], "error: --state: `Order` names no state\n"),
        (["--state", "Ordr.New"], "error: RtOrder has no machine 'Ordr'"),
        (["--stuck-for", "10"], "error: --stuck-for: `10` is not a duration\n"),
        (["--stuck-for", "0m"], "error: --stuck-for must be longer than 0s\n"),
        (
            ["--updated-before", "yesterday"],
            "error: --updated-before: `yesterday` is neither a time nor a duration\n",
        ),
        (["--updated-before", "0s"], "error: --updated-before must be longer than 0s\n"),
    ],
)
def test_ps_refuses_filters_that_select_nothing_by_mistake(
    url: str, target: str, args: list[str], message: str
) -> None:
    run = pmc("ps", target, "--store", url, *args)

    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith(message)


def test_ps_says_when_streams_are_not_indexed(url: str, target: str) -> None:
    store = open_store(url)
    forget_index(store)
    store.close()

    run = pmc("ps", target, "--store", url)

    assert (run.exit_code, run.stdout) == (0, "")
    assert "run `pmc db reindex` to index them" in run.stderr


def test_ps_refuses_a_memory_store(target: str) -> None:
    run = pmc("ps", target, "--store", "memory://")

    assert run.exit_code == 2
    assert "a memory:// store lives inside one process" in run.stderr


# ---- pmc show ------------------------------------------------------------------------------


def test_show_describes_an_instance(url: str, target: str, snapshot: SnapshotAssertion) -> None:
    shown = pmc("show", target, "lost", "--store", url)

    assert (shown.exit_code, shown.stderr) == (0, "")
    assert RANDOM.sub("<random>", shown.stdout) == snapshot


def test_show_as_json(url: str, target: str) -> None:
    shown = pmc("show", target, "waiting", "--store", url, "--format", "json")

    described = json.loads(shown.stdout)
    assert (described["status"], described["states"]["Order"]) == ("running", {"Order": "Shipping"})
    assert [task["task"] for task in described["tasks"]] == ["Ship"]
    assert described["timeline"][0]["payload"] == {"order_id": "waiting", "items": ["ink"]}


def test_show_an_unknown_key_exits_1(url: str, target: str) -> None:
    shown = pmc("show", target, "nobody", "--store", url)

    assert (shown.exit_code, shown.stdout) == (1, "")
    assert shown.stderr == "error: no RtOrder instance with key 'nobody'\n"


def test_odd_keys_are_shown_as_they_are_and_never_reach_the_terminal_raw(
    tmp_path: Path, target: str
) -> None:
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    store = open_store(url, clock=FakeClock())
    m = order()
    ProcessManager(definition(m), store, ShipFailsFor()).handle(
        m.Placed(order_id=ODD_KEY, items=[])
    )
    store.close()

    listed = pmc("ps", target, "--store", url)
    shown = pmc("show", target, ODD_KEY, "--store", url)

    escaped = "x'; DROP TABLE pmc_instances; --\\x1b[31m"
    assert keys_listed(listed) == ["x';"]
    assert escaped in listed.stdout and "\x1b" not in listed.stdout
    assert shown.stdout.startswith(f"RtOrder {escaped}: running\n")
    assert "\x1b" not in shown.stdout
    assert json.loads(pmc("ps", target, "--store", url, "--format", "json").stdout)["items"][0][
        "key"
    ] == (ODD_KEY)


# ---- pmc db reindex ------------------------------------------------------------------------


def test_db_reindex_rebuilds_the_index_and_can_run_again(url: str, target: str) -> None:
    before = pmc("ps", target, "--store", url, "--format", "json").stdout
    store = open_store(url)
    forget_index(store)
    store.close()

    first = pmc("db", "reindex", target, "--store", url)
    again = pmc("db", "reindex", target, "--store", url)

    assert first.exit_code == 0
    assert first.stderr.endswith(": 4 streams, 4 rows created, 0 rows corrected\n")
    assert again.stderr.endswith(": 4 streams, 0 rows created, 0 rows corrected\n")
    assert pmc("ps", target, "--store", url, "--format", "json").stdout == before


def test_db_reindex_names_the_streams_that_kept_moving_and_fails(
    url: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reindex(_operations: Operations) -> ReindexReport:
        return ReindexReport(4, 1, 0, skipped=("busy", "a b"))

    monkeypatch.setattr(Operations, "reindex", reindex)
    run = pmc("db", "reindex", target, "--store", url)

    assert run.exit_code == 1
    assert run.stderr.splitlines()[1:] == [
        "error: 2 streams kept moving while folded, and kept their rows: busy, 'a b'",
        "help: run `pmc db reindex` again when fewer writers are busy",
    ]


def test_ps_counts_the_states_of_a_machine_with_many_instances(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rebase.db'}"
    store = open_store(url)
    m = seed()
    manager = ProcessManager(definition(m), store, RebaseTasks())
    manager.handle(m.RebaseFailed(rebase_id="many", instances=[f"i{n}" for n in range(500)]))
    manager.handle(m.RebaseFailed(rebase_id="few", instances=["a", "b"]))
    store.close()

    listed = pmc("ps", f"{m.__name__}:RtRebase", "--store", url, "--format", "table")

    # A row stays a line: past three instances, a machine is counted by state.
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "Instance[500 instances]=500 Closing" in rows["many"], rows["many"]
    assert "Instance[a]=Closing Instance[b]=Closing" in rows["few"], rows["few"]


def test_states_of_a_machine_with_many_instances_are_counted_most_first() -> None:
    states = {"Order": {"Order": "Open"}, "Item": {f"i{n}": "Done" for n in range(5)}}
    states["Item"].update({"x": "Held", "y": "Held", "z": "Alpha"})

    assert states_text(states) == "Order=Open Item[8 instances]=5 Done, 2 Held, 1 Alpha"
