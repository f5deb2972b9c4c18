"""examples/trip_booking.pm with pmc.testing: a parallel saga and its compensation.

The end-to-end runs on SQLite and PostgreSQL stay in test_trip_booking_e2e.py.
"""

from __future__ import annotations

from pmc.testing import MakeScenario, Scenario, fail, succeed
from tests.examples.inputs import trip, trip_requested

Make = MakeScenario
FAILED_WHEN = "data.abort_reason is not none and data.running == 0 holds"


def suppliers(scenario: Make) -> Scenario:
    """Every supplier confirms and cancels; a test may script a booking otherwise."""
    s = scenario(trip(), default=succeed())
    s.script("BookFlight", succeed(lambda task: {"pnr": f"PNR-{task.offer}"}))
    s.script("BookHotel", succeed(lambda task: {"reference": f"H-{task.offer}"}))
    return s.script("BookCar", succeed(lambda task: {"reference": f"C-{task.pickup}-{task.days}"}))


def test_the_bookings_run_at_once_and_a_car_not_asked_for_is_skipped(scenario: Make) -> None:
    s = suppliers(scenario)

    s.when(trip_requested(extras=[]), run_due=False)
    # One event, three machines: the car's guard turned it to the fallback.
    s.expect_transitions(
        "Flight: Idle -> Booking", "Hotel: Idle -> Booking", "Car: Idle -> Skipped"
    )
    s.expect_data(running=2)
    s.run_due()

    s.expect_end("completed").expect_states(Flight="Booked", Hotel="Booked", Car="Skipped")
    s.expect_data(flight_pnr="PNR-TP123", hotel_ref="H-alfama-3", car_ref="")
    s.expect_data(running=0, abort_reason=None).expect_signals()
    assert sorted(c.task for c in s.tasks.calls()) == ["BookFlight", "BookHotel"]


def test_a_hotel_that_fails_cancels_the_flight_made_and_the_car_once_it_is_made(
    scenario: Make,
) -> None:
    s = suppliers(scenario)
    s.when(trip_requested(extras=["car"]), run_due=False)

    s.when_task_runs("BookFlight")  # the flight is booked first
    s.when_task_runs("BookHotel", fail("sold out", permanent=True))  # then the hotel is sold out

    # The failed booking raised `Abort`; both others heard it.
    s.expect_signals(("Abort", {}))
    s.expect_transitions(
        "Hotel: Booking -> Failed (failed)",
        "Flight: Booked -> Cancelling (undo)",
        "Car: Booking -> Aborting (abort)",
    )
    s.expect_tasks(("CancelFlight", {"pnr": "PNR-TP123"}))
    s.expect_data(abort_reason="hotel: sold out")
    # The car's booking stays in flight across `abort` (`keep`).
    assert [t.task for t in s.state.tasks.values()] == ["BookCar", "CancelFlight"]

    s.run_due()

    s.expect_end("failed", reason=FAILED_WHEN)
    s.expect_states(Flight="Cancelled", Hotel="Failed", Car="Cancelled")
    # The car was booked after the abort, and cancelled by the reference it got.
    s.expect_transitions(
        "Car: Aborting -> Cancelling (late_booked)",
        "Flight: Cancelling -> Cancelled",
        "Car: Cancelling -> Cancelled",
        ordered=False,
    )
    assert s.tasks.inputs("CancelCar") == [{"reference": "C-Lisbon-4"}]
    assert s.tasks.inputs("CancelHotel") == []
    s.expect_data(car_ref="C-Lisbon-4", running=0)


def test_a_traveller_abort_keeps_every_running_booking_and_cancels_each_once_made(
    scenario: Make,
) -> None:
    s = suppliers(scenario)
    s.when(trip_requested(extras=["car"]), run_due=False)

    s.when(trip().TravellerAborted(trip_id="t1"), run_due=False)

    s.expect_signals("Abort").expect_transitions(
        "Traveller: Travelling -> Aborted (abort)",
        "Flight: Booking -> Aborting",
        "Hotel: Booking -> Aborting",
        "Car: Booking -> Aborting",
    )
    assert len(s.state.tasks) == 3  # nothing was dropped
    # A second abort finds the traveller's machine done: it changes nothing.
    s.when(trip().TravellerAborted(trip_id="t1", reason="again"), run_due=False).expect_nothing()

    s.run_due()

    s.expect_end("failed").expect_data(abort_reason="aborted by the traveller")
    s.expect_states(Flight="Cancelled", Hotel="Cancelled", Car="Cancelled")
    assert s.tasks.inputs("CancelFlight") == [{"pnr": "PNR-TP123"}]
    assert s.tasks.inputs("CancelHotel") == [{"reference": "H-alfama-3"}]
    assert s.tasks.inputs("CancelCar") == [{"reference": "C-Lisbon-4"}]
