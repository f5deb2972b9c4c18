"""Workers whose clocks are minutes off, on PostgreSQL: one clock per store.

A worker runs in another process under ``faketime`` (its wall clock shifted
by five minutes, as on a machine whose clock is wrong) beside a runner on the
true clock. Leases, timeouts, retry times and timer due times are all taken
from the store's clock (the database server's), so the shifted worker
neither times out a healthy attempt (ahead) nor starts due work late
(behind).
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from pmc.runtime.worker import Worker
from tests.fake_clock import faketime
from tests.runtime.support import compiled, definition, names, of_type, path_of, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHIFT = timedelta(minutes=5)

# An attempt of Work may run 5 s; one that times out is retried at once.
AHEAD = """
process RtSkewAhead {
    key job_id
    event Submitted { job_id: str }
    task Work async {
        job_id: str
        retry 1
        timeout 5s
    }
    machine Job {
        states New, Working, Done, Failed
        initial New
        final Done, Failed
        transition start: New -> Working on Submitted run Work(job_id = key)
        transition done: Working -> Done on Work completed
        transition failed: Working -> Failed on Work failed
    }
}
"""

# A failed attempt of Flaky is retried 2 s later; the reminder is due 2 s
# after the job was submitted.
BEHIND = """
process RtSkewBehind {
    key job_id
    event Submitted { job_id: str }
    task Flaky async {
        job_id: str
        retry 1 every 2s
        timeout 30s
    }
    machine Job {
        states New, Working, Done, Failed
        initial New
        final Done, Failed
        transition start: New -> Working on Submitted run Flaky(job_id = key)
        transition done: Working -> Done on Flaky completed
        transition failed: Working -> Failed on Flaky failed
    }
    machine Reminder {
        states Idle, Waiting, Reminded
        initial Idle
        final Reminded
        transition wait: Idle -> Waiting on Submitted
        transition remind: Waiting -> Reminded on after 2s
    }
}
"""


class SkewedWorker:
    """A worker in another process whose wall clock is ``offset`` off (``tests.runtime.skewed``)."""

    def __init__(self, module: ModuleType, url: str, directory: Path, offset: str) -> None:
        prefix, env = faketime(offset)
        directory.mkdir()
        self.directory = directory
        arguments = [path_of(module), url, str(directory)]
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "tests.runtime.skewed", *arguments],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> datetime:
        """Its own idea of the time, once it is ready to start."""
        ready = self.directory / "ready"
        wait_until(lambda: ready.exists() or self.process.poll() is not None, timeout=60)
        assert ready.exists(), self._stderr()
        return datetime.fromisoformat(ready.read_text(encoding="utf-8"))

    def go(self) -> None:
        (self.directory / "go").touch()
        wait_until(lambda: (self.directory / "started").exists(), timeout=30)

    def stop(self) -> None:
        (self.directory / "stop").touch()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def runs(self) -> list[str]:
        runs = self.directory / "runs"
        return runs.read_text(encoding="utf-8").splitlines() if runs.exists() else []

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()


class HealthyTasks:
    """Work takes 2.5 s of a 5 s timeout; the skewed worker is let loose once it has begun."""

    def __init__(self, skewed: SkewedWorker) -> None:
        self.skewed = skewed
        self.attempts: list[int] = []

    def work(self, task: object, ctx: TaskContext) -> None:
        self.attempts.append(ctx.attempt)
        self.skewed.go()
        time.sleep(2.5)


class FailFirstTasks:
    """Flaky's first attempt fails."""

    def flaky(self, task: object, ctx: TaskContext) -> None:
        raise RuntimeError("not yet")


def test_a_worker_minutes_ahead_does_not_time_out_a_healthy_attempt(
    postgres_url: str, tmp_path: Path
) -> None:
    m = compiled(AHEAD)
    skewed = SkewedWorker(m, postgres_url, tmp_path / "ahead", "+5m")
    store = open_store(postgres_url)
    try:
        # Its clock really is ahead: without one clock per store, it would
        # see the healthy attempt's 5 s lease long expired.
        assert skewed.wait_ready() - datetime.now(UTC) > SHIFT - timedelta(seconds=30)
        manager = ProcessManager(definition(m), store)
        manager.handle(m.Submitted(job_id="j1"))
        tasks = HealthyTasks(skewed)

        # Runs the attempt: TaskStarted, then the skewed worker starts and
        # watches the index for 2.5 s, then TaskCompleted.
        assert Worker(definition(m), store, tasks, worker_id="healthy").run_once() == 1
        time.sleep(1)  # the skewed worker goes on looking at the settled stream
    finally:
        skewed.stop()
        history = ProcessManager(definition(m), store).history("j1")
        store.close()

    assert tasks.attempts == [1]
    assert of_type(history, "TaskTimedOut") == []
    assert skewed.runs() == []  # no retry ran the handler a second time
    [completed] = of_type(history, "TaskCompleted")
    assert completed.attempt == 1
    assert names(history)[-1] == "ProcessCompleted"


def test_a_worker_minutes_behind_starts_due_retries_and_fires_due_timers_on_time(
    postgres_url: str, tmp_path: Path
) -> None:
    m = compiled(BEHIND)
    store = open_store(postgres_url)
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Submitted(job_id="j1"))
    # A runner on the true clock fails the first attempt: the retry is due 2 s
    # later, and the reminder 2 s after the submission.
    assert Worker(definition(m), store, FailFirstTasks()).run_once() == 1
    skewed = SkewedWorker(m, postgres_url, tmp_path / "behind", "-5m")
    try:
        assert datetime.now(UTC) - skewed.wait_ready() > SHIFT - timedelta(seconds=30)
        skewed.go()
        # Five minutes late would be far beyond this wait.
        wait_until(lambda: manager.state("j1").ended, timeout=60)
    finally:
        skewed.stop()
        history = manager.history("j1")
        store.close()

    assert manager.state("j1").end is End.COMPLETED
    assert skewed.runs() == ["Flaky Job 2"]
    [retry] = of_type(history, "TaskRetryScheduled")
    [scheduled] = of_type(history, "TimerScheduled")
    started = {
        event.event.attempt: event
        for event in history
        if type(event.event).__name__ == "TaskStarted"
    }
    fired = next(event for event in history if type(event.event).__name__ == "TimerFired")
    # Started and fired by the skewed worker within seconds of being due.
    assert timedelta(0) <= started[2].created_at - retry.not_before < timedelta(seconds=30)
    assert timedelta(0) <= fired.created_at - scheduled.due_at < timedelta(seconds=30)
