"""User code typed against a generated module and ``pmc.runtime`` passes ``mypy --strict``.

The types must not lie (issue #8, item 6): what the runtime accepts, the
signatures accept, and what they promise, the runtime delivers. Each
snippet is a file a service could hold; mypy runs once over all of them and
each test reads its own file's findings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.codegen.support import compile_text

# An `int` key, a task that `returns` and one that does not.
PROCESS = """
process TyApi {
    key order_id
    event Placed { order_id: int }
    task Reserve sync { order_id: int  returns { reservation: str } }
    task Notify async { order_id: int }
    machine Order {
        states New, Reserving, Notifying, Done, Stuck
        initial New
        final Done, Stuck
        transition reserve: New -> Reserving on Placed run Reserve(order_id = key)
        transition reserved: Reserving -> Notifying on Reserve completed
            run Notify(order_id = key)
        transition stuck: Reserving -> Stuck on Reserve failed
        transition notified: Notifying -> Done on Notify completed
        transition unnotified: Notifying -> Stuck on Notify failed
    }
}
"""

HEADER = """\
from __future__ import annotations

from uuid import UUID

from pmc.runtime import ProcessManager, ProcessState, TaskContext

import ty_api as m
"""

# name -> (code, the lines mypy must flag: the lines ending in `# error`)
SNIPPETS = {
    "protocol_result": """
class Tasks:
    def reserve(self, task: m.Reserve, ctx: TaskContext) -> m.ReserveResult:
        return m.ReserveResult(reservation=f"r-{task.order_id}")

    def notify(self, task: m.Notify, ctx: TaskContext) -> None:
        pass


TASKS: m.TyApiTasks = Tasks()
""",
    "protocol_async": """
class AsyncTasks:  # `async def` and `def` mixed in one object: the runtime awaits
    async def reserve(self, task: m.Reserve, ctx: TaskContext) -> m.ReserveResult:
        return m.ReserveResult(reservation=f"r-{task.order_id}")

    def notify(self, task: m.Notify, ctx: TaskContext) -> None:
        pass


class AsyncMaybe:
    async def reserve(self, task: m.Reserve, ctx: TaskContext) -> m.ReserveResult | None:
        return None

    async def notify(self, task: m.Notify, ctx: TaskContext) -> None:
        pass


TASKS: m.TyApiTasks = AsyncTasks()
MAYBE: m.TyApiTasks = AsyncMaybe()  # error
""",
    "protocol_refuses_none": """
class MaybeTasks:
    def reserve(self, task: m.Reserve, ctx: TaskContext) -> m.ReserveResult | None:
        return None

    def notify(self, task: m.Notify, ctx: TaskContext) -> None:
        pass


TASKS: m.TyApiTasks = MaybeTasks()  # error
""",
    "delivery_ids": """
def deliver(manager: ProcessManager, webhook_id: str, message_id: UUID) -> None:
    manager.handle(m.Placed(order_id=1), event_id=webhook_id)
    manager.handle(m.Placed(order_id=1), event_id=message_id)
    manager.handle(m.Placed(order_id=1))
    stored: UUID = manager.stored_event_id(1, webhook_id)
    manager.handle(m.Placed(order_id=1), event_id=7)  # error
""",
    "keys": """
def read(manager: ProcessManager) -> None:
    state: ProcessState = manager.state(1)
    replayed: ProcessState = manager.replay(1)
    count = len(manager.history(1))
    by_text: ProcessState = manager.state("1")
    by_uuid: ProcessState = manager.state(UUID(int=1))
    manager.state(1.5)  # error
""",
    "state_of": """
def order_state(manager: ProcessManager) -> str:
    state = manager.state(1)
    done: bool = state.of("Order") == m.OrderState.Done
    ids: list[str] = list(state.instances_of("Order"))
    return state.of("Order")
""",
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> str:
    """mypy's output over the generated module and every snippet."""
    directory = tmp_path_factory.mktemp("typed-api")
    (directory / "ty_api.py").write_text(compile_text(PROCESS), encoding="utf-8")
    for name, code in SNIPPETS.items():
        (directory / f"{name}.py").write_text(HEADER + code, encoding="utf-8")
    pytest_cache: pytest.Cache | None = getattr(pytestconfig, "cache", None)
    cache = pytest_cache.mkdir("mypy-typed-api") if pytest_cache else directory / ".mypy-cache"
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "."],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "error: " in done.stdout or done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def flagged(findings: str, name: str) -> list[int]:
    """The lines of snippet ``name`` mypy reports an error on (numbered in the snippet)."""
    offset = HEADER.count("\n")
    lines = []
    for line in findings.splitlines():
        path, _, rest = line.partition(":")
        if Path(path).name == f"{name}.py" and ": error: " in rest:
            lines.append(int(rest.partition(":")[0]) - offset)
    return sorted(set(lines))


def expected(name: str) -> list[int]:
    code = SNIPPETS[name]
    return [n for n, line in enumerate(code.splitlines(), 1) if line.endswith("# error")]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SNIPPETS))
def test_mypy_flags_exactly_what_it_should(findings: str, name: str) -> None:
    assert flagged(findings, name) == expected(name), findings


def test_every_snippet_that_expects_errors_marks_them() -> None:
    # A snippet meant to be refused must say where: else it proves nothing.
    assert expected("protocol_refuses_none") == [10]
    assert expected("protocol_async") == [19]
    assert expected("delivery_ids") == [7]
    assert expected("keys") == [8]
