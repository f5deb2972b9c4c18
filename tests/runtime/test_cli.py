"""``pmc db init`` and ``pmc worker``, run as real commands."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import sqlalchemy
from typer.testing import CliRunner

from pmc.cli import app
from pmc.cli.worker import StopRequest, progress_line, summary
from pmc.runtime import End
from pmc.runtime.loading import TargetError, load_process, load_tasks
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from pmc.runtime.worker import TimeoutReport, TimerReport, WorkerStats
from tests.codegen.support import compile_text
from tests.runtime.processes import SEED
from tests.runtime.support import compiled, definition, names, seed, wait_until

REPO = Path(__file__).resolve().parents[2]
TWO = SEED.replace("process RtRebase", "process RtRebaseTwo")

HANDLERS = """
import asyncio
import time

class Tasks:
    def close_instance(self, task, ctx):
        if ctx.machine_id == "B" and ctx.attempt == 1:
            raise RuntimeError("API down")


def make():
    return Tasks()


class Slow:
    def close_instance(self, task, ctx):
        time.sleep(1)


def slow():
    return Slow()


def broken():
    return {}["CLOUD_TOKEN"]


class Incomplete:
    pass


class AsyncTasks:
    async def close_instance(self, task, ctx):
        await asyncio.sleep(0.01)
        if ctx.machine_id == "B" and ctx.attempt == 1:
            raise RuntimeError("API down")


def make_async():
    return AsyncTasks()


async def async_factory():
    return AsyncTasks()
"""


def pmc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmc", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def start_pmc(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``pmc`` started as a process of its own (a worker, say), its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "pmc", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def killed_if_left(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """``process``, killed on the way out if the test left it running (a failed wait)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def pmc_here(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """``pmc`` run in this process (fast), for commands that stop before doing work.

    ``{seed}`` in an argument names the test session's RtRebase module: importing
    ``rt_rebase`` here would register its events a second time with
    event-sourcery. ``pmc worker`` imports the user's modules from the current
    directory: the directory, ``sys.path`` and ``handlers`` are restored afterwards.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "handlers", raising=False)

    def run(*args: str, cwd: Path) -> Run:
        monkeypatch.chdir(cwd)
        argv = [arg.replace("{seed}", seed().__name__) for arg in args]
        result = CliRunner().invoke(app, argv, catch_exceptions=False)
        sys.modules.pop("handlers", None)
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with a generated process and its task handlers, as a user has."""
    (tmp_path / "rt_rebase.py").write_text(compile_text(SEED), encoding="utf-8")
    (tmp_path / "handlers.py").write_text(HANDLERS, encoding="utf-8")
    return tmp_path


def test_db_init_creates_the_tables_and_can_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"

    first = pmc("db", "init", url, cwd=tmp_path)
    again = pmc("db", "init", url, cwd=tmp_path)

    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert first.stderr == f"store ready: {url}\n"
    tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names())
    assert {"pmc_streams", "pmc_work", "event_sourcery_events"} <= tables


def test_db_init_rejects_an_unknown_url(tmp_path: Path, pmc_here: Callable[..., Run]) -> None:
    done = pmc_here("db", "init", "mysql://localhost/x", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert "error: cannot initialise mysql://localhost/x: unsupported store URL" in done.stderr


@pytest.mark.parametrize(
    ("target", "tasks", "message"),
    [
        (
            "{seed}:Nope",
            "handlers:make",
            "module `{seed}` has no `Nope`; it defines `DEFINITION`, `RtRebase`",
        ),
        (
            "{seed}",
            "handlers:Incomplete",
            "the task handlers lack close_instance (see the RtRebaseTasks protocol)",
        ),
        (
            "{seed}",
            "handlers:async_factory",
            "--tasks `handlers:async_factory` is an `async def` function: the factory must "
            "return the handlers itself (their methods may be `async def`)",
        ),
    ],
)
def test_worker_reports_what_it_cannot_use(
    project: Path, pmc_here: Callable[..., Run], target: str, tasks: str, message: str
) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    done = pmc_here("worker", target, "--tasks", tasks, "--store", url, cwd=project)

    expected = f"error: {message.replace('{seed}', seed().__name__)}\n"
    assert (done.returncode, done.stdout, done.stderr) == (2, "", expected)


@pytest.mark.parametrize(
    ("load", "name", "message"),
    [
        (load_process, "no_such_module", "cannot import `no_such_module`"),
        (load_process, "handlers:make", "`handlers:make` is not a process generated by pmc"),
        (load_tasks, "handlers", "--tasks `handlers`: expected `module:factory`"),
        (load_tasks, "handlers:nothing", "--tasks `handlers:nothing`: no callable `nothing`"),
    ],
)
def test_worker_names_what_it_cannot_import(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    load: Callable[[str], object],
    name: str,
    message: str,
) -> None:
    monkeypatch.syspath_prepend(str(project))

    with pytest.raises(TargetError) as error:
        load(name)

    assert str(error.value).startswith(message)


@pytest.mark.parametrize("factory", ["handlers:make", "handlers:make_async"])
def test_worker_runs_tasks_until_sigterm(project: Path, factory: str) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    m = seed()
    command = ["worker", "rt_rebase:RtRebase", "--tasks", factory, "--store", url]
    # A grace shorter than the wait below: a stop that hangs says where.
    worker = start_pmc(*command, "--concurrency", "2", "--grace", "10", cwd=project)
    store = open_store(url)
    try:
        manager = ProcessManager(definition(m), store)
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
        # B's first attempt fails; its retry waits 2 s (`backoff 2s`).
        wait_until(lambda: manager.state("r1").ended, timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
        store.close()

    assert worker.returncode == 0, stderr
    assert manager.state("r1").end is End.COMPLETED
    assert stdout == ""
    progress = stderr.splitlines()
    assert "CloseInstance RtRebase/r1 A attempt 1: completed" in "\n".join(progress)
    assert any("B attempt 1: failed (API down); retry scheduled" in line for line in progress)
    assert "SIGTERM: stopping after the running tasks" in progress
    assert progress[-1].endswith("stopped; done 2, failed 0, retried 1, timed out 0, timers 0")
    # Without --verbose: progress lines only, no log records.
    assert not any(" INFO " in line or "status=" in line for line in progress), stderr


def signalled_at(request: StopRequest, step: int) -> None:
    """``request.wait_for_request()`` with SIGTERM's handler run at its ``step``-th line
    (of its own code or of what it calls), as Python runs a handler between two steps."""
    steps = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal steps
        if event == "line":
            steps += 1
            if steps == step:
                request.handle(signal.SIGTERM, frame)  # not traced: inside the trace function
        return trace

    sys.settrace(trace)  # this thread's only
    try:
        request.wait_for_request(poll=0.001)
    finally:
        sys.settrace(None)


def test_a_stop_signal_ends_the_wait_wherever_it_interrupts_it() -> None:
    # A handler waking the wait through a lock (a threading.Event) hangs when it
    # interrupts the step holding that lock: the worker then never stopped.
    for step in range(1, 40):
        request = StopRequest()
        waiting = threading.Thread(target=signalled_at, args=(request, step), daemon=True)
        waiting.start()
        waiting.join(timeout=10)

        assert not waiting.is_alive(), f"the wait hung, signalled at its step {step}"
        assert request.signum == signal.SIGTERM


def test_one_worker_runs_the_tasks_of_two_processes(project: Path) -> None:
    (project / "rt_two.py").write_text(compile_text(TWO), encoding="utf-8")
    url = f"sqlite:///{project / 'app.db'}"
    one, two = seed(), compiled(TWO)
    # One --tasks for both: the same handlers serve RtRebase and RtRebaseTwo.
    command = ["worker", "rt_rebase:RtRebase", "rt_two", "--tasks", "handlers:make"]
    worker = start_pmc(*command, "--store", url, cwd=project)
    store = open_store(url)
    try:
        first = ProcessManager(definition(one), store)
        second = ProcessManager(definition(two), store)
        first.handle(one.RebaseFailed(rebase_id="r1", instances=["A"]))
        second.handle(two.RebaseFailed(rebase_id="r2", instances=["A"]))
        wait_until(lambda: first.state("r1").ended and second.state("r2").ended, timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
        store.close()

    assert worker.returncode == 0, stderr
    assert "RtRebase, RtRebaseTwo tasks from" in stderr
    assert "CloseInstance RtRebase/r1 A attempt 1: completed" in stderr
    assert "CloseInstance RtRebaseTwo/r2 A attempt 1: completed" in stderr


def test_worker_pairs_task_factories_with_processes_or_says_how(
    project: Path, pmc_here: Callable[..., Run]
) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    tasks = ("--tasks", "handlers:make") * 2

    done = pmc_here("worker", "{seed}", "{seed}", "{seed}", *tasks, "--store", url, cwd=project)

    expected = (
        "error: 3 processes but 2 --tasks: give one --tasks for every process, "
        "or one per process in the same order\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", expected)


def test_the_demo_runs_the_reference_scenario_to_completion(tmp_path: Path) -> None:
    # A copy, so the generated module lands in tmp_path, not in the source tree.
    for name in ("rebase_cleanup.pm", "run_rebase_cleanup.py"):
        shutil.copy(REPO / "examples" / name, tmp_path / name)
    before = _files_of(REPO / "examples")

    done = subprocess.run(
        [sys.executable, str(tmp_path / "run_rebase_cleanup.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "handled RebaseFailed(r1): recorded" in lines
    assert any(line.split()[1:2] == ["ProcessCompleted"] for line in lines)
    assert lines[-1] == "process completed: {'A': 'Closed', 'B': 'Closed', 'C': 'Closed'}"
    assert "attempt 1 failed (cloud API timed out); retry scheduled" in done.stderr
    assert (tmp_path / "rebase_cleanup.py").exists()
    assert _files_of(REPO / "examples") == before


def _files_of(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in directory.iterdir()}


# ---- environment errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "message"),
    [
        (
            "sqlite:///{project}/no/such/dir/app.db",
            "error: cannot open store sqlite:///{project}/no/such/dir/app.db: "
            "unable to open database file",
        ),
        (
            "postgresql://pmc@127.0.0.1:1/pmc",
            "error: cannot open store postgresql://pmc@127.0.0.1:1/pmc: connection to server",
        ),
        ("memory://", "error: cannot open store memory://: a memory:// store lives inside"),
    ],
)
def test_worker_reports_a_store_it_cannot_open(
    project: Path, pmc_here: Callable[..., Run], store: str, message: str
) -> None:
    url = store.format(project=project)

    done = pmc_here("worker", "{seed}", "--tasks", "handlers:make", "--store", url, cwd=project)

    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.startswith(message.format(project=project)), done.stderr
    assert "internal error" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_worker_reports_a_task_factory_that_raises(
    project: Path, pmc_here: Callable[..., Run]
) -> None:
    url = f"sqlite:///{project / 'app.db'}"

    done = pmc_here("worker", "{seed}", "--tasks", "handlers:broken", "--store", url, cwd=project)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: the task factory `handlers:broken` raised KeyError: 'CLOUD_TOKEN'\n"
    )


def test_worker_refuses_a_worker_id_longer_than_the_store_holds(
    project: Path, pmc_here: Callable[..., Run]
) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    command = ("worker", "{seed}", "--tasks", "handlers:make", "--store", url)

    done = pmc_here(*command, "--worker-id", "w" * 256, cwd=project)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("error: worker id is longer than 255 characters")


def test_db_init_refuses_memory_and_reports_an_unreachable_store(
    tmp_path: Path, pmc_here: Callable[..., Run]
) -> None:
    memory = pmc_here("db", "init", "memory://", cwd=tmp_path)
    missing_dir = pmc_here("db", "init", f"sqlite:///{tmp_path}/no/dir/x.db", cwd=tmp_path)

    assert (memory.returncode, missing_dir.returncode) == (2, 2)
    assert memory.stderr.startswith("error: cannot initialise memory://: a memory:// store")
    assert missing_dir.stderr == (
        f"error: cannot initialise sqlite:///{tmp_path}/no/dir/x.db: unable to open database file\n"
    )


# ---- signals and logs -----------------------------------------------------------------


def test_worker_stops_gracefully_on_the_first_sigint_and_logs_with_verbose(
    project: Path,
) -> None:
    url = f"sqlite:///{project / 'app.db'}"
    m = seed()
    command = ["worker", "rt_rebase:RtRebase", "--tasks", "handlers:slow", "--store", url]
    started = start_pmc(*command, "--verbose", cwd=project)
    with killed_if_left(started) as worker, closing(open_store(url)) as store:
        manager = ProcessManager(definition(m), store)
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
        # SIGINT while the handler runs (it sleeps 1 s): the attempt still finishes.
        wait_until(lambda: "TaskStarted" in names(manager.history("r1")), timeout=30)
        worker.send_signal(signal.SIGINT)
        stdout, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 0, stderr
    assert stdout == ""
    assert manager.state("r1").end is End.COMPLETED
    progress = stderr.splitlines()
    assert "SIGINT: stopping after the running tasks" in progress
    assert progress[-1].endswith("stopped; done 1, failed 0, retried 0, timed out 0, timers 0")
    # --verbose: the structured records, with their fields.
    started = next(line for line in progress if "attempt 1 started" in line)
    assert "INFO" in started
    assert "task=CloseInstance" in started and "machine_id=A" in started and "attempt=1" in started
    assert any("status=recorded" in line and "event=TaskCompleted" in line for line in progress)


def test_progress_lines_name_timeouts_and_fired_timers() -> None:
    task_id, timer_id = uuid.uuid4(), uuid.uuid4()
    close = {
        "category": "RtRebase",
        "key": "r1",
        "machine": "Instance",
        "machine_id": "A",
        "task": "CloseInstance",
        "task_id": task_id,
    }
    retried = TimeoutReport(**close, attempt=1, retry_scheduled=True)
    last = TimeoutReport(**close, attempt=4, retry_scheduled=False)
    fired = TimerReport(
        category="RtReminder",
        key="t1",
        machine="Ticket",
        machine_id="Ticket",
        timer_id=timer_id,
        transition="remind",
    )

    assert [progress_line(p) for p in (retried, last, fired)] == [
        "CloseInstance RtRebase/r1 A attempt 1: timed out; retry scheduled",
        "CloseInstance RtRebase/r1 A attempt 4: timed out; failed for good",
        "timer RtReminder/t1 Ticket: fired (remind)",
    ]
    assert summary(WorkerStats(failed=1, retrying=3, timed_out=4)) == (
        "done 0, failed 1, retried 3, timed out 4, timers 0"
    )
