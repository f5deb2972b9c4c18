"""Crashes and restarts: everything pending is found again from the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from pmc.runtime.worker import Worker
from tests.conftest import OpenStore
from tests.runtime.support import (
    FakeClock,
    RebaseTasks,
    ReminderTasks,
    definition,
    fail_first,
    names,
    of_type,
    path_of,
    quick,
    reminder,
    seed,
    snapshot,
    untimed,
    wait_until,
)
from tests.runtime_store.rows import work_items

REPO = Path(__file__).resolve().parents[2]


def child(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.runtime.child", *args]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store other processes can open too (not ``memory://``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_a_task_whose_worker_is_killed_is_retried_by_another(
    shared_url: str, tmp_path: Path
) -> None:
    m = quick()  # CloseInstance: `timeout 1s`, `retry 3` without delay
    store = open_store(shared_url)
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    marker = tmp_path / "started"
    doomed = subprocess.Popen(
        child("stuck-worker", path_of(m), shared_url, str(marker)),
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(marker.exists, timeout=30)
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    tasks = RebaseTasks()
    rescuer = Worker(definition(m), store, tasks, worker_id="rescuer")

    rescuer.start()
    try:
        wait_until(lambda: manager.state("r1").ended, timeout=15)
    finally:
        rescuer.stop()
        store.close()

    history = manager.history("r1")
    assert [(s.worker, s.attempt) for s in of_type(history, "TaskStarted")] == [
        ("doomed", 1),
        ("rescuer", 2),
    ]
    assert [t.attempt for t in of_type(history, "TaskTimedOut")] == [1]
    assert tasks.calls.of("CloseInstance") == [("A", 2)]
    assert manager.state("r1").end is End.COMPLETED


def test_new_workers_finish_what_stopped_ones_left_pending(
    open_same_store: OpenStore, clock: FakeClock
) -> None:
    rebase, ticket = seed(), reminder()
    before = open_same_store()
    ProcessManager(definition(rebase), before).handle(
        rebase.RebaseFailed(rebase_id="r1", instances=["A", "B"])
    )
    ProcessManager(definition(ticket), before).handle(ticket.Opened(ticket_id="t1"))
    first = Worker(definition(rebase), before, RebaseTasks(fail_first(1, only="B")))
    first.drain()
    first.stop()
    # Left behind: B's retry (due in 2 s) and the ticket's timer (due in 1 h).
    pending = {item.kind for item in work_items(before, "RtRebase", "r1")}
    pending |= {item.kind for item in work_items(before, "RtReminder", "t1")}
    assert pending == {"task", "timer"}

    after = open_same_store()
    clock.advance(hours=1)
    tasks = RebaseTasks()
    Worker(definition(rebase), after, tasks).drain()
    Worker(definition(ticket), after, ReminderTasks()).drain()

    assert tasks.calls.of("CloseInstance") == [("B", 2)]
    assert ProcessManager(definition(rebase), after).state("r1").end is End.COMPLETED
    ticket_history = ProcessManager(definition(ticket), after).history("t1")
    assert names(ticket_history)[-2:] == ["TimerFired", "TransitionPlanned"]


def test_a_stopping_worker_finishes_its_running_attempt(open_same_store: OpenStore) -> None:
    m = seed()
    store = open_same_store()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    tasks = RebaseTasks(delay=0.3)
    worker = Worker(definition(m), store, tasks)
    worker.start()
    wait_until(lambda: bool(tasks.calls.log))

    assert worker.stop(grace=5)

    assert names(manager.history("r1"))[-1] == "ProcessCompleted"


def test_a_stopping_worker_cancels_an_attempt_that_outlasts_the_grace(
    open_same_store: OpenStore,
) -> None:
    m = seed()
    store = open_same_store()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    running = threading.Event()

    class PatientTasks:
        def close_instance(self, task: object, ctx: TaskContext) -> None:
            running.set()
            if ctx.cancellation.wait(10):
                raise RuntimeError("cancelled: the worker is stopping")

    worker = Worker(definition(m), store, PatientTasks())
    worker.start()
    assert running.wait(5)

    assert worker.stop(grace=0.1)

    [failed] = of_type(manager.history("r1"), "TaskFailed")
    assert failed.reason == "cancelled: the worker is stopping"


def test_an_attempt_without_timeout_keeps_its_lease_while_it_runs(
    open_same_store: OpenStore,
) -> None:
    m = untimed()
    store = open_same_store()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    lease = timedelta(seconds=0.3)
    tasks = RebaseTasks(delay=1.0)  # runs for more than three leases
    runner = Worker(definition(m), store, tasks, worker_id="runner", lease=lease)
    # A second worker would record a timeout as soon as a lease expired.
    watcher = Worker(definition(m), open_same_store(), tasks, worker_id="watcher", lease=lease)

    runner.start()
    wait_until(lambda: bool(tasks.calls.log))
    watcher.start()
    try:
        wait_until(lambda: manager.state("r1").ended)
    finally:
        runner.stop()
        watcher.stop()

    history = manager.history("r1")
    starts = of_type(history, "TaskStarted")
    assert {(s.worker, s.attempt) for s in starts} == {("runner", 1)}
    # The start and at least one renewal (a 1 s run under 0.3 s leases, yet no
    # timeout); how many renewals fit depends on the load of the machine.
    assert len(starts) >= 2
    assert of_type(history, "TaskTimedOut") == []
    assert tasks.calls.of("CloseInstance") == [("A", 1)]
    assert manager.state("r1").end is End.COMPLETED


def test_the_state_rebuilt_in_a_fresh_process_equals_the_live_state(
    shared_url: str, clock: FakeClock
) -> None:
    m = seed()
    store = open_store(shared_url, clock=clock)
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))
    Worker(definition(m), store, RebaseTasks(fail_first(1, only="AB"))).drain()
    live = manager.state("r1")
    assert live.tasks  # mid-flight: retries pending, so the comparison covers tasks
    store.close()

    folded = subprocess.run(
        child("fold", path_of(m), shared_url, "r1"),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(folded.stdout) == json.loads(json.dumps(snapshot(live), default=str))


def test_replaying_a_stream_equals_the_cached_state(
    open_same_store: OpenStore, clock: FakeClock
) -> None:
    m = seed()
    store = open_same_store()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))
    worker = Worker(definition(m), store, RebaseTasks(fail_first(1, only="A")))
    worker.drain()

    assert ProcessManager(definition(m), open_same_store()).state("r1") == manager.state("r1")
    assert manager.replay("r1") == manager.state("r1")


def test_workers_stopped_mid_task_are_replaced_by_new_ones_on_a_new_store(
    shared_url: str,
    clock: FakeClock,
) -> None:
    """A real restart: running threads stop mid-task; new workers on a new store object
    find the expired leases, the pending retry and the due timer, and finish everything."""
    rebase, ticket = seed(), reminder()  # CloseInstance: `timeout 30s`, `backoff 2s`
    before = open_store(shared_url, clock=clock)
    ProcessManager(definition(rebase), before).handle(
        rebase.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"])
    )
    ProcessManager(definition(ticket), before).handle(ticket.Opened(ticket_id="t1"))
    hold = threading.Event()
    stuck: list[str] = []

    class StuckTasks:
        """A and C hang until the test ends; B fails at once, leaving a retry pending."""

        def close_instance(self, task: object, ctx: TaskContext) -> None:
            if ctx.machine_id == "B":
                raise RuntimeError("API down")
            stuck.append(ctx.machine_id)
            hold.wait(30)
            raise RuntimeError("abandoned")

    old = Worker(definition(rebase), before, StuckTasks(), concurrency=3)
    old_timers = Worker(definition(ticket), before, ReminderTasks())
    old.start()
    old_timers.start()
    try:
        wait_until(lambda: sorted(stuck) == ["A", "C"], timeout=15)
        wait_until(lambda: old.stats.retrying == 1, timeout=15)
        # Both threads are mid-task: stopping gives up on them (left to their leases).
        assert not old.stop(grace=0.1)
        assert old_timers.stop()

        clock.advance(hours=1)  # the leases expire; the retry and the timer are due
        after = open_store(shared_url, clock=clock)
        tasks = RebaseTasks()
        new = Worker(definition(rebase), after, tasks, concurrency=2)
        new_timers = Worker(definition(ticket), after, ReminderTasks())
        rebases = ProcessManager(definition(rebase), after)
        tickets = ProcessManager(definition(ticket), after)
        new.start()
        new_timers.start()
        try:

            def finished() -> bool:
                clock.advance(seconds=1)  # the retries after the timeouts wait 2 s
                return rebases.state("r1").ended

            wait_until(finished, timeout=30)
            wait_until(lambda: "TimerFired" in names(tickets.history("t1")), timeout=30)
        finally:
            assert new.stop()
            assert new_timers.stop()
    finally:
        hold.set()

    history = rebases.history("r1")
    assert rebases.state("r1").end is End.COMPLETED
    assert sorted(tasks.calls.of("CloseInstance")) == [("A", 2), ("B", 2), ("C", 2)]
    assert sorted(t.attempt for t in of_type(history, "TaskTimedOut")) == [1, 1]
    assert new.stats.timed_out == 2 and new.stats.completed == 3
    assert dict(tickets.state("t1").instances["Ticket"]) == {"Ticket": "Reminded"}
    after.close()
    before.close()
