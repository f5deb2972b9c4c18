"""The pytest plugin of ``pmc.testing``: fixtures for testing processes.

Loaded by pytest in every run of a project that installs pmc (the
``pytest11`` entry point named after this module, so that a conftest's
``pytest_plugins = ["pmc.testing.plugin"]`` finds it loaded already rather
than registering it twice), so it imports nothing but pytest when
loaded: each fixture imports the runtime when a test asks for it. A test
that asks for none of them pays nothing. Every fixture is named ``pmc_...``
but ``scenario``, so that none hides a project's own fixture by accident;
a project's fixture of the same name wins (conftest fixtures override
plugin fixtures).

- ``pmc_clock``: a ``FakeClock`` at ``pmc.testing.START``;
- ``pmc_store``: a ``memory://`` store on ``pmc_clock``;
- ``pmc_sqlite_store``: an SQLite store in the test's ``tmp_path``, on ``pmc_clock``;
- ``pmc_manager(process, tasks)``: a ``ProcessManager`` on ``pmc_store``;
- ``pmc_worker(process, tasks)``: a ``Worker`` on ``pmc_store``, one attempt at a time;
- ``scenario(process, store="memory", default=None)``: a ``Scenario`` on a
  clock of its own (at ``START``), ``store="sqlite"`` for one in ``tmp_path``;
  closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pmc.runtime.manager import ProcessManager
    from pmc.runtime.stores import ProcessStore
    from pmc.runtime.worker import Worker
    from pmc.testing import FakeClock, MakeScenario, Outcome, Scenario

StoreKind = str  # "memory" or "sqlite"


@pytest.fixture
def pmc_clock() -> FakeClock:
    """A clock that moves only when the test moves it."""
    from pmc.testing import FakeClock

    return FakeClock()


@pytest.fixture
def pmc_store(pmc_clock: FakeClock) -> Iterator[ProcessStore]:
    """A memory store running on ``pmc_clock``."""
    yield from _opened("memory://", pmc_clock)


@pytest.fixture
def pmc_sqlite_store(pmc_clock: FakeClock, tmp_path: Path) -> Iterator[ProcessStore]:
    """An SQLite store in the test's temporary directory, running on ``pmc_clock``."""
    yield from _opened(_sqlite_url(tmp_path), pmc_clock)


def _opened(url: str, clock: FakeClock) -> Iterator[ProcessStore]:
    from pmc.runtime.stores import open_store

    store = open_store(url, clock=clock)
    yield store
    store.close()


def _sqlite_url(tmp_path: Path, suffix: str = "") -> str:
    return f"sqlite:///{tmp_path / f'pmc-store{suffix}.db'}"


@pytest.fixture
def pmc_manager(pmc_store: ProcessStore) -> Callable[[Any, object], ProcessManager]:
    """Makes a ``ProcessManager`` of a process (definition or generated module) on ``pmc_store``."""
    from pmc.runtime.manager import ProcessManager
    from pmc.testing.scenario import definition_of

    def make(process: Any, tasks: object) -> ProcessManager:
        return ProcessManager(definition_of(process), pmc_store, tasks, with_worker=True)

    return make


@pytest.fixture
def pmc_worker(pmc_store: ProcessStore) -> Callable[[Any, object], Worker]:
    """Makes a ``Worker`` of a process on ``pmc_store``, running one attempt at a time."""
    from pmc.runtime.worker import Worker
    from pmc.testing.scenario import WORKER_ID, definition_of

    def make(process: Any, tasks: object) -> Worker:
        return Worker(definition_of(process), pmc_store, tasks, worker_id=WORKER_ID)

    return make


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[MakeScenario]:
    """Makes ``Scenario``s, each on a clock of its own; each is closed after the test."""
    from pmc.testing import Scenario, ScenarioError

    made: list[Scenario] = []

    def make(process: Any, store: StoreKind = "memory", default: Outcome | None = None) -> Scenario:
        # Each scenario of a test gets a database and a clock of its own: two
        # scenarios are independent, advancing one leaves the other's time alone.
        urls = {"memory": "memory://", "sqlite": _sqlite_url(tmp_path, f"-{len(made)}")}
        if store not in urls:
            raise ScenarioError(f"store is `memory` or `sqlite`, not {store!r}")
        made.append(Scenario(process, urls[store], default=default))
        return made[-1]

    yield make
    for each in made:
        each.close()
