"""Duplicates, racing writers and competing workers: every effect recorded once."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from pmc.runtime import End
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore, open_store
from pmc.runtime.worker import Worker
from tests.conftest import OpenStore
from tests.runtime.support import (
    RebaseTasks,
    assert_well_formed,
    definition,
    names,
    of_type,
    path_of,
    seed,
    tally,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
CHILD = (sys.executable, "-m", "tests.runtime.child")


def test_every_input_and_outcome_delivered_twice_is_recorded_once(
    open_same_store: OpenStore,
) -> None:
    m = seed()
    store, other_store = open_same_store(), open_same_store()
    manager = ProcessManager(definition(m), store)
    # A second manager, as in another process: it has no cache to remember ids by.
    other = ProcessManager(definition(m), other_store)
    event = m.RebaseFailed(rebase_id="r1", instances=["A", "B"])
    event_id = uuid.uuid4()

    first = manager.handle(event, event_id)
    again = manager.handle(event, event_id)
    elsewhere = other.handle(event, event_id)
    Worker(definition(m), store, RebaseTasks()).drain()
    history = manager.history("r1")
    outcomes = [e for e in history if type(e.event).__name__ in ("TaskStarted", "TaskCompleted")]
    redelivered = [other.record("r1", e.event, e.event_id) for e in outcomes]

    assert first.status is HandleStatus.RECORDED
    assert again.status is elsewhere.status is HandleStatus.DEDUPLICATED
    assert len(outcomes) == 4
    assert {r.status for r in redelivered} == {HandleStatus.DEDUPLICATED}
    assert manager.history("r1") == history
    assert_well_formed(history)
    assert names(history).count("RebaseFailed") == 1
    assert names(history).count("ProcessCompleted") == 1


def test_an_outcome_reported_again_after_the_end_is_not_recorded(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    Worker(definition(m), store, RebaseTasks()).drain()
    completed = of_type(manager.history("r1"), "TaskCompleted")[0]

    # Reported again under a new id, e.g. by a handler's own retry logic: an
    # identical outcome (same task and attempt) is already recorded.
    result = manager.record("r1", completed, uuid.uuid4())

    assert result.status is HandleStatus.DEDUPLICATED
    assert names(manager.history("r1")).count("TaskCompleted") == 2


WRITERS = 8
TICKS = 10


def test_eight_threads_handling_events_of_one_process(open_same_store: OpenStore) -> None:
    m = tally()
    managers = [ProcessManager(definition(m), open_same_store()) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        start.wait()
        try:
            for n in range(TICKS):
                managers[writer].handle(m.Tick(tally_id="busy", n=writer * 100 + n))
        except BaseException as error:  # a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert_every_tick_once(managers[0], [w * 100 + n for w in range(WRITERS) for n in range(TICKS)])


@pytest.mark.postgres
def test_four_processes_handling_events_of_one_process(postgres_url: str) -> None:
    m = tally()
    children = [
        subprocess.Popen(
            [*CHILD, "tick", path_of(m), postgres_url, "busy", f"p{n}", str(TICKS)],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    failures = [child.communicate(timeout=60)[1] for child in children if child.wait(60) != 0]

    assert failures == []
    store = open_store(postgres_url)
    try:
        manager = ProcessManager(definition(m), store)
        assert_every_tick_once(manager, [n for _ in range(4) for n in range(TICKS)])
    finally:
        store.close()


def assert_every_tick_once(manager: ProcessManager, expected: list[int]) -> None:
    history = manager.history("busy")
    assert_well_formed(history)
    ticks = [e for e in history if type(e.event).__name__ == "Tick"]
    assert Counter(tick.n for tick in of_type(history, "Tick")) == Counter(expected)
    # Each tick is followed by its own decision, caused by it and by nothing else.
    planned = of_type(history, "TransitionPlanned")
    assert [p.caused_by for p in planned] == [e.event_id for e in ticks]
    assert len(history) == 2 * len(expected)


def test_four_workers_complete_200_tasks_each_exactly_once(open_same_store: OpenStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), open_same_store())
    keys = [f"r{n}" for n in range(10)]
    for key in keys:
        manager.handle(m.RebaseFailed(rebase_id=key, instances=[f"i{n}" for n in range(20)]))
    tasks = RebaseTasks()
    workers = [Worker(definition(m), open_same_store(), tasks, worker_id=f"w{n}") for n in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: all(manager.state(key).ended for key in keys), timeout=60)
    finally:
        for worker in workers:
            worker.stop()

    completed: Counter[uuid.UUID] = Counter()
    for key in keys:
        history = manager.history(key)
        assert_well_formed(history)
        assert manager.state(key).end is End.COMPLETED
        completed.update(c.task_id for c in of_type(history, "TaskCompleted"))
    assert len(completed) == 200 and set(completed.values()) == {1}
    # Handlers run at least once; here no worker died, so exactly once.
    assert tasks.calls.per_task == Counter(dict.fromkeys(completed, 1))
    assert sum(worker.stats.completed for worker in workers) == 200
    assert sum(1 for worker in workers if worker.stats.completed) > 1
