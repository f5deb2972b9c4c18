"""Row 6: an idle worker on PostgreSQL: the queries it sends, and how soon it picks up work.

A ``Worker`` with 4 threads (``concurrency=4``) runs in this process on a
fresh schema with nothing to do.

- Queries per second while idle: after a settling second, every statement
  the worker's driver connections receive is counted for a few seconds
  while the main thread only sleeps (each connection a SQLAlchemy pool
  opens is wrapped in a recording proxy, as bench/handle.py does, so
  statements sent straight on the driver's cursor count too). A connection
  the store opens outside SQLAlchemy's pools (for ``LISTEN``, say) is not
  seen; waiting for a notification on it sends nothing. Goal <= 1/s per
  idle process.
- Pickup latency: the main thread then handles input events one at a
  time, each planning one async task due at once, and the handler notes
  when it starts: the latency is from ``handle`` returning (the append has
  committed) to the handler starting, same clock, p50 of 20 pickups (10
  with --quick), each after the worker has been idle for 0.3 s. Goal <= 10 ms.

PostgreSQL only; without a server it prints nothing.

    python bench/idle.py [--quick] --postgres URL [--repeats N]
"""

from __future__ import annotations

import statistics
import threading
import time
from types import ModuleType

from benchlib import Options, Row
from workload import TASK_PROCESS, Call, Stores, Tasks, print_measured, recording

from pmc.runtime import ProcessManager, Worker
from pmc.runtime.stores import open_store

CONCURRENCY = 4
SETTLE = 1.0
IDLE_BETWEEN_PICKUPS = 0.3
PICKUP_LIMIT = 30.0
QUERY_GOAL = 1.0
PICKUP_GOAL_MS = 10.0


def idle_queries_per_second(calls: list[Call], seconds: float) -> float:
    """Statements recorded in ``calls`` per second while the caller sleeps."""
    before = len(calls)
    time.sleep(seconds)
    return sum(call.method.startswith("execute") for call in calls[before:]) / seconds


def pickups_ms(module: ModuleType, url: str, started: list[float], count: int) -> list[float]:
    """Milliseconds from ``handle`` returning to the handler starting, ``count`` times."""
    store = open_store(url)
    manager = ProcessManager(module.DEFINITION, store)
    latencies = []
    for n in range(count):
        time.sleep(IDLE_BETWEEN_PICKUPS)
        before = len(started)
        manager.handle(module.Start(id=f"p{n}"))
        returned = time.perf_counter()
        deadline = returned + PICKUP_LIMIT
        while len(started) == before:
            if time.perf_counter() > deadline:
                raise SystemExit(f"no worker picked up a task in {PICKUP_LIMIT:.0f} s")
            time.sleep(0.0002)
        latencies.append((started[before] - returned) * 1000)
    store.close()
    return latencies


def measure(options: Options, module: ModuleType, stores: Stores) -> list[Row]:
    if options.postgres is None:
        return []
    idle_seconds = 3.0 if options.quick else 10.0
    pickups = 10 if options.quick else 20
    started: list[float] = []
    lock = threading.Lock()

    def note_start() -> None:
        with lock:
            started.append(time.perf_counter())

    with stores.fresh("postgresql") as url, recording() as calls:
        store = open_store(url)
        store.init()
        worker = Worker(
            module.DEFINITION, store, Tasks(started=note_start), concurrency=CONCURRENCY
        )
        worker.start()
        try:
            time.sleep(SETTLE)
            queries = idle_queries_per_second(calls, idle_seconds)
            latencies = pickups_ms(module, url, started, pickups)
        finally:
            worker.stop()
            store.close()
    p50 = statistics.median(latencies)
    return [
        Row(
            f"idle worker ({CONCURRENCY} threads), postgresql: queries/s",
            f"{queries:.1f} queries/s",
            f"{idle_seconds:.0f} s idle",
            queries,
            f"<= {QUERY_GOAL:.0f}/s",
            queries <= QUERY_GOAL,
            unit="/s",
        ),
        Row(
            "idle worker, postgresql: pickup latency p50",
            f"p50 {p50:.1f} ms",
            f"max {max(latencies):.1f} ms of {len(latencies)}",
            p50,
            f"<= {PICKUP_GOAL_MS:.0f} ms",
            p50 <= PICKUP_GOAL_MS,
            unit="ms",
        ),
    ]


def main() -> None:
    print_measured(__doc__, TASK_PROCESS, "task_bench", measure)


if __name__ == "__main__":
    main()
