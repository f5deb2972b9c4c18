"""Row 4: one async task's whole life against one handle.

On a fresh store, in one run:
- handles: ``ProcessManager.handle`` of N input events, each planning one
  async task (the input event, its TransitionPlanned, the task's work row);
- tasks: a ``Worker`` with default settings (``concurrency=1``: one
  attempt at a time, as ``handle`` takes one event at a time) and a handler
  that does nothing, started on those N tasks: it claims each, records
  TaskStarted, runs the handler, records TaskCompleted and decides on it
  (the process completes); timed from ``start()`` until its stats count N
  completed attempts.

The row is the cost of a task over the cost of a handle (handles per second
over tasks per second). Goal <= 2x.

    python bench/tasks.py [--quick] [--postgres URL] [--repeats N]
"""

from __future__ import annotations

import statistics
from types import ModuleType

from benchlib import Options, Row
from workload import (
    TASK_PROCESS,
    Stores,
    Tasks,
    backends,
    print_measured,
    seconds_for,
    start_tasks,
    worker_done_after,
)

from pmc.runtime import Worker
from pmc.runtime.stores import open_store

GOAL = 2.0
WAIT_LIMIT = 600.0


def handles_and_tasks(module: ModuleType, url: str, count: int) -> tuple[float, float]:
    """(handles per second, tasks per second) of ``count`` tasks on the store at ``url``."""
    handles = count / start_tasks(module, url, count)
    listener, done = worker_done_after(count)
    worker = Worker(module.DEFINITION, open_store(url), Tasks(), listener=listener)

    def run() -> None:
        worker.start()
        if not done.wait(WAIT_LIMIT):
            raise SystemExit(f"the worker did not complete {count} tasks in {WAIT_LIMIT:.0f} s")

    try:
        tasks = count / seconds_for(run)
    finally:
        worker.stop()
        worker.store.close()
    return handles, tasks


def measure(options: Options, module: ModuleType, stores: Stores) -> list[Row]:
    return [row(options, module, stores, backend) for backend in backends(options.postgres)]


def row(options: Options, module: ModuleType, stores: Stores, backend: str) -> Row:
    count = 100 if options.quick else 500
    runs = []
    for _ in range(options.repeats):
        with stores.fresh(backend) as url:
            runs.append(handles_and_tasks(module, url, count))
    handles = statistics.median(h for h, _ in runs)
    tasks = statistics.median(t for _, t in runs)
    ratio = handles / tasks
    return Row(
        f"async task's whole life vs one handle, {backend}",
        f"{tasks:.0f} tasks/s",
        f"{handles:.0f} handles/s",
        ratio,
        f"<= {GOAL:.0f}x",
        ratio <= GOAL,
    )


def main() -> None:
    print_measured(__doc__, TASK_PROCESS, "task_bench", measure)


if __name__ == "__main__":
    main()
