"""Row 3: the per-event cost of ProcessManager.handle on long streams against short ones.

Two workloads of the same number of handled events, each on a fresh store
with one warm manager (the way a service runs: its cache holds the folds):
- long: one stream taken to 1,000 events (300 with --quick); the second half
  of its life is timed, so every timed event lands in a stream of 500 to
  1,000 events (150 to 300);
- short: 100 streams (30) taken to 10 events each, round robin, as many
  events; the second half of their lives is timed (events 6 to 10 of each).

The row is the cost per timed event on the long stream over that on the
short streams (events per second, short over long): 1.0x means the length
of a stream does not matter. Goal <= 1.1x.

    python bench/stream_length.py [--quick] [--postgres URL] [--repeats N]
"""

from __future__ import annotations

from types import ModuleType

from benchlib import Options, Row
from workload import (
    HANDLE_PROCESS,
    Stores,
    backends,
    interleaved_medians,
    print_measured,
    seconds_for,
)

from pmc.runtime import ProcessManager
from pmc.runtime.stores import open_store

SHORT = 10
GOAL = 1.1


def events_per_second(
    module: ModuleType, stores: Stores, backend: str, streams: int, length: int
) -> float:
    """Handled events per second over the second half of ``streams`` streams' lives."""
    events = [module.Ping(id=f"k{n % streams}", n=n) for n in range(streams * length)]
    untimed, timed = events[: len(events) // 2], events[len(events) // 2 :]
    with stores.fresh(backend) as url:
        store = open_store(url)
        manager = ProcessManager(module.DEFINITION, store)
        for event in untimed:
            manager.handle(event)
        try:
            return len(timed) / seconds_for(lambda: [manager.handle(event) for event in timed])
        finally:
            store.close()


def measure(options: Options, module: ModuleType, stores: Stores) -> list[Row]:
    return [row(options, module, stores, backend) for backend in backends(options.postgres)]


def row(options: Options, module: ModuleType, stores: Stores, backend: str) -> Row:
    long = 300 if options.quick else 1000
    long_rate, short_rate = interleaved_medians(
        options.repeats,
        lambda: events_per_second(module, stores, backend, 1, long),
        lambda: events_per_second(module, stores, backend, long // SHORT, SHORT),
    )
    ratio = short_rate / long_rate
    return Row(
        f"handle cost per event, {backend}: {long} vs {SHORT} per stream",
        f"{long_rate:.0f} events/s at {long}",
        f"{short_rate:.0f}/s at {SHORT}",
        ratio,
        f"<= {GOAL}x",
        ratio <= GOAL,
    )


def main() -> None:
    print_measured(__doc__, HANDLE_PROCESS, "handle_bench", measure)


if __name__ == "__main__":
    main()
