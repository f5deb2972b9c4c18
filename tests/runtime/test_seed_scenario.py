"""The reference scenario of the specification, through the store, the manager and workers."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta
from typing import Any

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore, StoredEvent
from pmc.runtime.worker import Worker
from tests.conftest import OpenStore
from tests.runtime.support import (
    FakeClock,
    RebaseTasks,
    assert_well_formed,
    definition,
    names,
    of_type,
    seed,
    wait_until,
)
from tests.runtime_store.rows import work_items

TRIALS = 5


def test_a_failed_rebase_is_recorded_with_one_close_planned_per_instance(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    result = manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))

    decisions: list[Any] = list(result.decisions)
    assert result.status is HandleStatus.RECORDED
    assert names(decisions) == ["TransitionPlanned"] * 3
    assert [d.machine_id for d in decisions] == ["A", "B", "C"]
    assert all(d.task == "CloseInstance" and d.task_mode == "async" for d in decisions)
    history = manager.history("r1")
    assert names(history) == ["RebaseFailed", *["TransitionPlanned"] * 3]
    assert history[0].event_id == result.event_id
    # The work index points the workers at the three tasks, due at once.
    rows = work_items(store, "RtRebase", "r1")
    assert sorted(row.work_id for row in rows) == sorted(f"task:{d.task_id}" for d in decisions)


def test_workers_close_every_instance_and_complete_the_process(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    tasks = RebaseTasks()
    worker = Worker(definition(m), store, tasks, worker_id="w1")
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))

    worker.drain()

    history = manager.history("r1")
    assert_well_formed(history)
    assert names(history[:4]) == ["RebaseFailed", *["TransitionPlanned"] * 3]
    for instance in "ABC":
        assert names(_events_of(history, instance)) == [
            "TransitionPlanned",  # close: Working -> Closing, runs CloseInstance
            "TaskStarted",
            "TaskCompleted",
            "TransitionPlanned",  # closed: Closing -> Closed
        ]
    assert names(history)[-1] == "ProcessCompleted"
    assert sorted(tasks.calls.of("CloseInstance")) == [("A", 1), ("B", 1), ("C", 1)]
    started = of_type(history, "TaskStarted")
    assert {s.worker for s in started} == {"w1"}
    assert all(s.lease_until == clock() + timedelta(seconds=30) for s in started)  # timeout
    state = manager.state("r1")
    assert state.end is End.COMPLETED
    assert dict(state.instances["Instance"]) == {"A": "Closed", "B": "Closed", "C": "Closed"}
    assert work_items(store, "RtRebase", "r1") == []
    assert manager.replay("r1") == state


def test_running_workers_pick_up_new_work_by_themselves(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    tasks = RebaseTasks()
    worker = Worker(definition(m), store, tasks, concurrency=2)
    worker.start()
    try:
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B", "C"]))
        wait_until(lambda: manager.state("r1").ended)
    finally:
        assert worker.stop()

    assert manager.state("r1").end is End.COMPLETED
    assert worker.stats.completed == 3
    assert len(tasks.calls.log) == 3


def test_an_idle_worker_starts_new_work_within_100_ms(open_same_store: OpenStore) -> None:
    """Measured from ``handle`` returning, through another store object (as another
    process would write); the median of several trials, so one hiccup of a loaded
    machine does not decide."""
    m = seed()
    manager = ProcessManager(definition(m), open_same_store())
    started: dict[str, float] = {}
    arrived = threading.Condition()

    class Tasks:
        def close_instance(self, task: object, ctx: TaskContext) -> None:
            with arrived:
                started[ctx.key] = time.monotonic()
                arrived.notify_all()

    worker = Worker(definition(m), open_same_store(), Tasks())
    worker.start()
    delays: list[float] = []
    try:
        for trial in range(TRIALS):
            time.sleep(0.3)  # let the worker go idle first
            key = f"r{trial}"
            manager.handle(m.RebaseFailed(rebase_id=key, instances=["A"]))
            handled = time.monotonic()
            with arrived:
                assert arrived.wait_for(lambda key=key: key in started, timeout=5)
            delays.append(started[key] - handled)
    finally:
        worker.stop()

    assert statistics.median(delays) <= 0.1, delays


def _events_of(history: list[StoredEvent], instance: str) -> list[StoredEvent]:
    """The events about one machine instance: its transitions and its task's attempts."""
    task_ids = {
        planned.task_id
        for planned in of_type(history, "TransitionPlanned")
        if planned.machine_id == instance and planned.task_id is not None
    }
    return [
        e
        for e in history
        if getattr(e.event, "machine_id", None) == instance
        or getattr(e.event, "task_id", None) in task_ids
    ]
