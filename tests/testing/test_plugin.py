"""The pytest plugin: registered for every pytest run, free until a test asks for a fixture."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from pmc.testing import (
    START,
    FakeClock,
    FakeTasks,
    MakeScenario,
    Scenario,
    ScenarioError,
    succeed,
)
from tests.testing.processes import kit_order


def test_pytest_loads_the_plugin_through_its_entry_point() -> None:
    found = {e.name: e.value for e in entry_points(group="pytest11")}
    assert found.get("pmc.testing.plugin") == "pmc.testing.plugin"


def test_a_conftest_may_name_the_plugin_too(tmp_path: Path) -> None:
    # The entry point is named after the module: pytest sees the plugin loaded
    # already, where another name would register the module twice (an error).
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pmc.testing.plugin"]\n')
    (tmp_path / "test_clock.py").write_text(
        "def test_clock(pmc_clock):\n    assert pmc_clock() is not None\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_loading_the_plugin_imports_neither_the_runtime_nor_the_stores() -> None:
    check = (
        "import sys, pmc.testing.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('pmc.runtime', 'sqlalchemy', "
        "'event_sourcery', 'pydantic', 'pmc.testing.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "['pmc.testing.plugin']"


def test_the_store_fixtures_run_on_the_fake_clock(
    pmc_clock: FakeClock, pmc_store: ProcessStore, pmc_sqlite_store: ProcessStore
) -> None:
    assert pmc_clock() == pmc_store.now() == pmc_sqlite_store.now() == START
    assert type(pmc_store) is not type(pmc_sqlite_store)


def test_a_manager_and_a_worker_share_the_store_fixture(
    pmc_manager: Callable[[Any, object], ProcessManager],
    pmc_worker: Callable[[Any, object], Worker],
) -> None:
    module = kit_order()
    tasks = FakeTasks(module.DEFINITION, default=succeed({"charge_id": "ch-1"}))
    manager, worker = pmc_manager(module, tasks), pmc_worker(module, tasks)

    manager.handle(module.OrderPlaced(order_id="o1", amount=5))
    worker.drain()

    assert manager.state("o1").of("Payment") == "Paid"


def test_the_scenario_fixture_takes_a_memory_or_an_sqlite_store(
    scenario: MakeScenario,
) -> None:
    with pytest.raises(ScenarioError, match="store is `memory` or `sqlite`, not 'postgres'"):
        scenario(kit_order(), store="postgres")
    one, other = scenario(kit_order(), store="sqlite"), scenario(kit_order(), store="sqlite")
    assert one.store is not other.store


def test_a_scenario_refuses_what_is_not_a_process(scenario: MakeScenario) -> None:
    with pytest.raises(ScenarioError, match="neither a process definition nor a generated module"):
        scenario(object())


def test_a_scenario_on_an_open_store_runs_on_its_clock(
    pmc_clock: FakeClock, pmc_sqlite_store: ProcessStore
) -> None:
    with pytest.raises(ScenarioError, match="needs the FakeClock it runs on"):
        Scenario(kit_order(), pmc_sqlite_store)
    s = Scenario(
        kit_order(), pmc_sqlite_store, clock=pmc_clock, default=succeed({"charge_id": "c"})
    )
    s.when(kit_order().OrderPlaced(order_id="o1", amount=5)).advance(timedelta(minutes=1))
    assert pmc_sqlite_store.now() - START == timedelta(minutes=1)
    s.expect_end("completed")


def test_every_public_name_of_the_kit_is_found_where_it_is_defined() -> None:
    import pmc.testing

    modules = {name: getattr(pmc.testing, name, None) for name in pmc.testing.__all__}
    assert [name for name, found in modules.items() if found is None] == []
    defined_in = {
        name: found.__module__ for name, found in modules.items() if hasattr(found, "__module__")
    }
    assert defined_in["MakeScenario"] == defined_in["Scenario"] == "pmc.testing.scenario"
    assert {module.rpartition(".")[0] for module in defined_in.values()} == {"pmc.testing"}
    with pytest.raises(AttributeError, match="has no attribute 'Scenarios'"):
        _ = pmc.testing.Scenarios  # type: ignore[attr-defined]
