"""Decisions per second: generated ``decide`` + ``evolve`` against the FSM libraries.

One machine, four states in a cycle, four triggers, written three times:

- as a pmc process, compiled at run time. Each event is handed to
  ``decide_and_fold``, which the recorder calls per handled event: it folds
  the input event, picks the transition, builds the recorded events (a
  ``TransitionPlanned``; on ``approve`` it also plans a task, with its input
  bound and its id derived; entering ``Shipping`` schedules a timer, which
  the next move cancels) and returns them with the new immutable state;
- as a pytransitions ``Machine``: dispatching a trigger mutates a model's
  ``state``, nothing else (no callbacks: the strictest baseline);
- as a python-statemachine ``StateMachine``: ``send`` of the trigger,
  which mutates the machine.

Every side is driven through the same sequence of triggers (the cycle,
repeated). pmc's input events are built before the clock starts, as the
store hands them over already validated; its decisions are built inside it.
pmc does more per event (recorded events, a new state, task and timer
bookkeeping) than either library: the row is the cost of all of it.

The verdict is by CPU time: each side's passes are also timed with
``time.thread_time`` (the CPU this thread used), many short passes with
the sides alternated, and the row's ratio is that of the best pass per
event of each side (their medians are printed too). On a machine that runs
other jobs (2 cores, load average 4-8 while these figures were taken) the
wall-clock ratio swings by a quarter from one run to the next, as whichever
side is descheduled mid-pass looks slower; CPU time leaves out the time
spent waiting for a core, which neither side controls. The wall-clock
ratio (best pass of each measurement, median of ``--repeats``) is printed
beside it.

    python bench/decide.py [--quick] [--repeats N]
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import benchlib
import statemachine
import transitions
from workload import load_process

from pmc.runtime.contract import EventMeta
from pmc.runtime.engine import decide_and_fold

PROCESS = """
process DecideBench {
    key id

    event Submit { id: str }
    event Approve { id: str }
    event Ship { id: str }
    event Reset { id: str }
    event Cancel { id: str }

    task Notify {
        id: str
        step: str
    }

    machine Order {
        states Draft, Review, Shipping, Closed, Cancelled
        initial Draft
        final Cancelled

        transition submit: Draft -> Review on Submit
        transition approve: Review -> Shipping on Approve
            run Notify(id = key, step = "approved")
        transition ship: Shipping -> Closed on Ship
        transition reset: Closed -> Draft on Reset
        transition expire: Shipping -> Closed on after 1h
        transition notified: Shipping -> Shipping on Notify completed
        transition unnotified: Shipping -> Shipping on Notify failed
        transition cancel: Draft, Review, Shipping, Closed -> Cancelled on Cancel
    }
}
"""

STATES = ["Draft", "Review", "Shipping", "Closed", "Cancelled"]
# (trigger, source, target): the cycle every side is driven through.
CYCLE = [
    ("submit", "Draft", "Review"),
    ("approve", "Review", "Shipping"),
    ("ship", "Shipping", "Closed"),
    ("reset", "Closed", "Draft"),
]
# Declared by every side, never triggered (a process needs a final state,
# and a state that runs a task handles its outcome).
DECLARED = [
    ("notified", "Shipping", "Shipping"),
    ("unnotified", "Shipping", "Shipping"),
    ("cancel", ["Draft", "Review", "Shipping", "Closed"], "Cancelled"),
]
EVENTS = 4000  # per timed pass: a thousand cycles


def per_second(run: Callable[[], None]) -> float:
    """Events per second of one pass of ``run`` (``EVENTS`` events)."""
    started = time.perf_counter()
    run()
    return EVENTS / (time.perf_counter() - started)


def cpu_per_event(run: Callable[[], None]) -> float:
    """CPU µs per event of one pass of ``run``, by this thread's CPU time."""
    started = time.thread_time()
    run()
    return (time.thread_time() - started) / EVENTS * 1e6


def cpu_passes(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    """``cpu_per_event`` of ``rounds`` passes of each run, the runs taken in
    turns so that a busy moment of the machine hits every side."""
    for run in runs.values():
        run()  # warm up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(cpu_per_event(run))
    return times


def pmc_pass(m: ModuleType) -> Callable[[], None]:
    defn = m.DEFINITION
    classes = {"submit": m.Submit, "approve": m.Approve, "ship": m.Ship, "reset": m.Reset}
    triggers = [CYCLE[i % len(CYCLE)][0] for i in range(EVENTS)]
    inputs = [classes[t](id="order-1") for t in triggers]
    metas = [EventMeta(uuid.uuid4(), datetime(2026, 1, 1, tzinfo=UTC), "order-1") for _ in inputs]

    def run() -> None:
        state = defn.initial_state()
        for event, meta in zip(inputs, metas, strict=True):
            decisions, state = decide_and_fold(defn, state, event, meta)
            assert decisions, "every event of the cycle plans a transition"
        assert state.of("Order") == "Draft"

    return run


def transitions_pass() -> Callable[[], None]:
    triggers = [CYCLE[i % len(CYCLE)][0] for i in range(EVENTS)]

    def run() -> None:
        model = transitions.Machine(
            states=STATES,
            transitions=[list(row) for row in (*CYCLE, *DECLARED)],
            initial="Draft",
            auto_transitions=False,
        )
        for trigger in triggers:
            model.trigger(trigger)
        assert model.state == "Draft"

    return run


class Order(statemachine.StateMachine):  # type: ignore[misc]
    draft = statemachine.State(initial=True)
    review = statemachine.State()
    shipping = statemachine.State()
    closed = statemachine.State()
    cancelled = statemachine.State(final=True)

    submit = draft.to(review)
    approve = review.to(shipping)
    ship = shipping.to(closed)
    reset = closed.to(draft)
    notified = shipping.to.itself()
    unnotified = shipping.to.itself()
    cancel = (
        draft.to(cancelled) | review.to(cancelled) | shipping.to(cancelled) | closed.to(cancelled)
    )


def statemachine_pass() -> Callable[[], None]:
    triggers = [CYCLE[i % len(CYCLE)][0] for i in range(EVENTS)]

    def run() -> None:
        machine: Any = Order()
        for trigger in triggers:
            machine.send(trigger)
        assert machine.draft.is_active

    return run


def main() -> None:
    opts = benchlib.options(__doc__.splitlines()[0])
    passes = 2 if opts.quick else 10  # timed passes per measurement; the best counts
    rounds = 5 if opts.quick else 60  # CPU-timed passes of each side
    with tempfile.TemporaryDirectory() as tmp:
        ours_run = pmc_pass(load_process(PROCESS, "decide_bench", Path(tmp)))
        runs = {"pmc": ours_run, "transitions": transitions_pass(), "sm": statemachine_pass()}

        def measure(name: str) -> float:
            runs[name]()  # warm up
            return max(per_second(runs[name]) for _ in range(passes))

        # Interleaved, so that a busy moment of the machine hits every side.
        figures: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(opts.repeats):
            for name in runs:
                figures[name].append(measure(name))
        cpu = cpu_passes(runs, rounds)
    median = {name: statistics.median(values) for name, values in figures.items()}
    best_cpu = {name: min(values) for name, values in cpu.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpu.items()}

    def row(key: str, name: str) -> benchlib.Row:
        ratio = best_cpu[key] / best_cpu["pmc"]
        return benchlib.Row(
            f"generated decide+evolve vs {name}, CPU time",
            f"{best_cpu['pmc']:.2f} µs/event (median {median_cpu['pmc']:.2f})",
            f"{best_cpu[key]:.2f} (median {median_cpu[key]:.2f});"
            f" wall clock {median['pmc'] / median[key]:.2f}x"
            f" ({median['pmc']:,.0f} vs {median[key]:,.0f} events/s)",
            ratio,
            ">= 1x",
            ratio >= 1,
        )

    benchlib.print_rows(
        [
            row(key, name)
            for key, name in (("transitions", "pytransitions"), ("sm", "python-statemachine"))
        ]
    )


if __name__ == "__main__":
    main()
