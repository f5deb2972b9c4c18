"""examples/trip_booking.pm end to end: a parallel saga and its compensation.

The three bookings start together. A booking that fails raises `Abort`;
every other booking is cancelled, a running one once it is made (`keep`).
Each test runs the example's generated module with a manager and a worker on
SQLite and PostgreSQL, and checks that the stream replays to the same state.
"""

from __future__ import annotations

from typing import Any

from pmc.runtime import End, PermanentFailure, TaskContext
from pmc.runtime.stores import ProcessStore
from tests.examples.inputs import trip, trip_requested
from tests.examples.support import (
    Recorded,
    assert_pmc_replay_agrees,
    assert_replay_agrees,
    deployed,
    events_named,
    planned,
    run_task,
    signal_ids,
    signals,
)

FAILED_WHEN = "data.abort_reason is not none and data.running == 0 holds"


class Suppliers:
    """The `E2eTripBookingTasks` handlers: every supplier confirms, unless told to decline."""

    def __init__(self, declines: frozenset[str] = frozenset()) -> None:
        self.declines = declines
        self.seen = Recorded()

    def _book(self, name: str, task: Any, ctx: TaskContext, returned: dict[str, str]) -> Any:
        self.seen.add(name, task, ctx)
        if name in self.declines:
            raise PermanentFailure("sold out")
        return returned

    def book_flight(self, task: Any, ctx: TaskContext) -> Any:
        return self._book("BookFlight", task, ctx, {"pnr": f"PNR-{task.offer}"})

    def book_hotel(self, task: Any, ctx: TaskContext) -> Any:
        return self._book("BookHotel", task, ctx, {"reference": f"H-{task.offer}"})

    def book_car(self, task: Any, ctx: TaskContext) -> Any:
        return self._book("BookCar", task, ctx, {"reference": f"C-{task.pickup}-{task.days}"})

    def cancel_flight(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("CancelFlight", task, ctx)

    def cancel_hotel(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("CancelHotel", task, ctx)

    def cancel_car(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("CancelCar", task, ctx)


def test_the_bookings_run_at_once_and_a_car_not_asked_for_is_skipped(
    store: ProcessStore, store_url: str
) -> None:
    suppliers = Suppliers()
    manager, worker = deployed(trip(), store, suppliers)

    manager.handle(trip_requested(extras=[]))
    # One event, three machines: the car's guard turned it to the fallback.
    assert planned(manager.history("t1")) == [
        ("Flight", "Flight", "book"),
        ("Hotel", "Hotel", "book"),
        ("Car", "Car", "skip"),
    ]
    assert manager.state("t1").data.running == 2
    worker.drain()

    state = assert_replay_agrees(trip(), manager, "t1")
    assert state.end is End.COMPLETED
    assert {m: state.of(m) for m in ("Flight", "Hotel", "Car")} == {
        "Flight": "Booked",
        "Hotel": "Booked",
        "Car": "Skipped",
    }
    assert (state.data.flight_pnr, state.data.hotel_ref, state.data.car_ref) == (
        "PNR-TP123",
        "H-alfama-3",
        "",
    )
    assert (state.data.running, state.data.abort_reason) == (0, None)
    assert sorted(suppliers.seen.tasks()) == ["BookFlight", "BookHotel"]
    assert signals(manager.history("t1")) == []
    assert_pmc_replay_agrees(trip(), store_url)


def test_a_hotel_that_fails_cancels_the_flight_made_and_the_car_once_it_is_made(
    store: ProcessStore,
) -> None:
    suppliers = Suppliers(declines=frozenset({"BookHotel"}))
    manager, worker = deployed(trip(), store, suppliers)
    manager.handle(trip_requested(extras=["car"]))

    run_task(manager, "t1", "BookFlight")  # the flight is booked first
    run_task(manager, "t1", "BookHotel")  # then the hotel is sold out
    history = manager.history("t1")

    # The failed booking raised `Abort`; both others heard it.
    assert signals(history) == [("Abort", {}, "Hotel", "failed")]
    assert planned(history)[-3:] == [
        ("Hotel", "Hotel", "failed"),
        ("Flight", "Flight", "undo"),
        ("Car", "Car", "abort"),
    ]
    undo, keep = events_named(history, "TransitionPlanned")[-2:]
    assert undo.caused_by == keep.caused_by == signal_ids(history)[0]
    assert undo.task_input == {"pnr": "PNR-TP123"}
    # The car's booking stays in flight across `abort`.
    [car_booking] = [t for t in manager.state("t1").tasks.values() if t.task == "BookCar"]
    assert keep.kept_tasks == [car_booking.task_id]
    assert manager.state("t1").data.abort_reason == "hotel: sold out"

    worker.drain()

    state = assert_replay_agrees(trip(), manager, "t1")
    assert state.end is End.FAILED
    assert state.end_reason == FAILED_WHEN
    assert {m: state.of(m) for m in ("Flight", "Hotel", "Car")} == {
        "Flight": "Cancelled",
        "Hotel": "Failed",
        "Car": "Cancelled",
    }
    assert suppliers.seen.of("CancelFlight") == [{"pnr": "PNR-TP123"}]
    # The car was booked after the abort, and cancelled by the reference it got.
    assert suppliers.seen.of("CancelCar") == [{"reference": "C-Lisbon-4"}]
    assert suppliers.seen.of("CancelHotel") == []
    assert (state.data.car_ref, state.data.running) == ("C-Lisbon-4", 0)
    assert ("Car", "Car", "late_booked") in planned(manager.history("t1"))


def test_a_traveller_abort_keeps_every_running_booking_and_cancels_each_once_made(
    store: ProcessStore, store_url: str
) -> None:
    suppliers = Suppliers()
    manager, worker = deployed(trip(), store, suppliers)
    manager.handle(trip_requested(extras=["car"]))

    manager.handle(trip().TravellerAborted(trip_id="t1"))

    history = manager.history("t1")
    assert signals(history) == [("Abort", {}, "Traveller", "abort")]
    assert planned(history)[-4:] == [
        ("Traveller", "Traveller", "abort"),
        ("Flight", "Flight", "abort"),
        ("Hotel", "Hotel", "abort"),
        ("Car", "Car", "abort"),
    ]
    running = manager.state("t1").tasks
    assert len(running) == 3  # nothing was dropped
    kept = [p.kept_tasks for p in events_named(history, "TransitionPlanned")[-3:]]
    assert sorted(task for tasks in kept for task in tasks) == sorted(running)
    # A second abort finds the traveller's machine done: it changes nothing.
    assert manager.handle(trip().TravellerAborted(trip_id="t1", reason="again")).decisions == ()

    worker.drain()

    state = assert_replay_agrees(trip(), manager, "t1")
    assert state.end is End.FAILED
    assert state.data.abort_reason == "aborted by the traveller"
    assert {m: state.of(m) for m in ("Flight", "Hotel", "Car")} == {
        "Flight": "Cancelled",
        "Hotel": "Cancelled",
        "Car": "Cancelled",
    }
    assert suppliers.seen.of("CancelFlight") == [{"pnr": "PNR-TP123"}]
    assert suppliers.seen.of("CancelHotel") == [{"reference": "H-alfama-3"}]
    assert suppliers.seen.of("CancelCar") == [{"reference": "C-Lisbon-4"}]
    assert_pmc_replay_agrees(trip(), store_url)
