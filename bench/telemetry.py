"""Telemetry: what the no-op seam costs a handle, and what OpenTelemetry on costs.

pmc's figure: ``ProcessManager.handle`` of 20,000 input events (4,000 with
--quick) of a small process on the memory store, round robin over 50
streams: the fastest handle there is, so the one where the calls into the
seam weigh most.

Row 1 (telemetry off): the calls ``handle`` makes into the no-op telemetry
(``installed()``, the ``handling`` scope entered and left, ``handled``, and
``carrier()`` for its append), made as many times in a loop, as a share of
the handles' time. Row 2: handle with ``pmc.otel.instrument()`` on the
OpenTelemetry SDK (spans and metrics kept in memory, exported nowhere)
against handle with telemetry off, measured in turns. Row 3: a worker's
drain of 2,000 planned async tasks (500 with --quick) on the memory store,
planned and run with OpenTelemetry on (each attempt a recorded span linked
to the span that planned it: a tail read of its stream) against off.

    python bench/telemetry.py [--quick] [--repeats N]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from benchlib import Options, Row
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from workload import (
    HANDLE_PROCESS,
    TASK_PROCESS,
    Stores,
    Tasks,
    interleaved_medians,
    load_process,
    print_measured,
    seconds_for,
)

from pmc.otel import instrument, uninstrument
from pmc.runtime import ProcessManager, Worker, telemetry
from pmc.runtime.stores import open_store

STREAMS = 50
NO_OP_GOAL = 0.01  # of a handle's time
ON_GOAL = 0.5  # handles/s with OpenTelemetry on, of those with it off


def handles_per_second(module: ModuleType, events: Sequence[object]) -> float:
    store = open_store("memory://")
    manager = ProcessManager(module.DEFINITION, store)
    try:
        return len(events) / seconds_for(lambda: [manager.handle(event) for event in events])
    finally:
        store.close()


def no_op_calls_per_second(count: int) -> float:
    """The no-op telemetry calls of ``count`` handles, made in a loop."""

    def calls() -> None:
        for _ in range(count):
            with telemetry.installed().handling("HandleBench", "k1", "Ping") as scope:
                telemetry.installed().carrier()
                scope.handled(None)  # type: ignore[arg-type]  # the no-op reads nothing

    return count / seconds_for(calls)


def attempts_per_second(module: ModuleType, count: int) -> float:
    """``count`` tasks planned, then a worker's drain of them: attempts run per second."""
    store = open_store("memory://")
    manager = ProcessManager(module.DEFINITION, store)
    for n in range(count):
        manager.handle(module.Start(id=f"t{n}"))
    try:
        return count / seconds_for(lambda: Worker(module.DEFINITION, store, Tasks()).drain())
    finally:
        store.close()


def with_otel_on(measured: Callable[[], float]) -> float:
    instrument(TracerProvider(), MeterProvider(metric_readers=[InMemoryMetricReader()]))
    try:
        return measured()
    finally:
        uninstrument()


def measure(options: Options, module: ModuleType, _stores: Stores) -> list[Row]:
    count = 4000 if options.quick else 20000
    events = [module.Ping(id=f"k{n % STREAMS}", n=n) for n in range(count)]
    handles_per_second(module, events[:500])  # warm up: imports, the registry, the caches

    handled, seam = interleaved_medians(
        options.repeats,
        lambda: handles_per_second(module, events),
        lambda: no_op_calls_per_second(count),
    )
    share = handled / seam
    on, off = interleaved_medians(
        options.repeats,
        lambda: with_otel_on(lambda: handles_per_second(module, events)),
        lambda: handles_per_second(module, events),
    )
    tasks = 500 if options.quick else 2000
    with tempfile.TemporaryDirectory() as directory:
        tasks_module = load_process(TASK_PROCESS, "telemetry_tasks_bench", Path(directory))
        attempts_on, attempts_off = interleaved_medians(
            options.repeats,
            lambda: with_otel_on(lambda: attempts_per_second(tasks_module, tasks)),
            lambda: attempts_per_second(tasks_module, tasks),
        )
    return [
        Row(
            "telemetry off: the no-op seam's share of a handle (memory)",
            f"{seam:.0f} no-op call sets/s",
            f"{handled:.0f} handles/s",
            share,
            f"<= {NO_OP_GOAL}x",
            share <= NO_OP_GOAL,
        ),
        Row(
            "handle with OpenTelemetry on vs off (memory, SDK in memory)",
            f"{on:.0f} handles/s",
            f"{off:.0f}/s",
            on / off,
            f">= {ON_GOAL}x",
            on / off >= ON_GOAL,
        ),
        Row(
            "worker attempts with OpenTelemetry on vs off (memory, SDK in memory)",
            f"{attempts_on:.0f} attempts/s",
            f"{attempts_off:.0f}/s",
            attempts_on / attempts_off,
            f">= {ON_GOAL}x",
            attempts_on / attempts_off >= ON_GOAL,
        ),
    ]


def main() -> None:
    print_measured(__doc__, HANDLE_PROCESS, "telemetry_bench", measure)


if __name__ == "__main__":
    main()
