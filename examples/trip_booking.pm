# Booking a trip: a flight, a hotel and, if asked for, a car, all at once.
#
# A saga run in parallel: the three bookings start together, each in its own
# machine. When one fails, it raises the signal `Abort`, and every other
# booking undoes what it did: a booking already made is cancelled, one still
# running is kept running (`keep`) and cancelled once it is made. The
# traveller may abort too, with the same effect. The references the
# suppliers hand back are kept in the process's data, for the cancellations.
process TripBooking {
    key trip_id

    event TripRequested {
        trip_id: str
        traveller: str
        destination: str
        flight_offer: str
        hotel_offer: str
        nights: int
        # Optional extras the traveller ticked, such as "car".
        extras: list[str]
    }

    event TravellerAborted {
        trip_id: str
        reason: str = "aborted by the traveller"
    }

    data {
        flight_pnr: str = ""
        hotel_ref: str = ""
        car_ref: str = ""
        # Why the trip is being undone; none while it is not.
        abort_reason: str | None = none
        # Bookings and cancellations in flight: the trip fails only once
        # nothing runs any more, so that no cancellation is dropped.
        running: int = 0
    }

    # Undo every booking. A signal without fields: `emit Abort`.
    signal Abort {}

    # Suppliers decline for good (no seat, no room): no retries for that, a
    # handler raises `PermanentFailure`. Retries cover their flaky APIs.
    task BookFlight {
        trip_id: str
        offer: str
        traveller: str
        returns {
            pnr: str
        }
        retry 2 backoff 5s
        timeout 1m
    }

    task CancelFlight {
        pnr: str
        retry 10 every 1m
        timeout 1m
    }

    task BookHotel {
        trip_id: str
        offer: str
        nights: int
        returns {
            reference: str
        }
        retry 2 backoff 5s
        timeout 1m
    }

    task CancelHotel {
        reference: str
        retry 10 every 1m
        timeout 1m
    }

    task BookCar {
        trip_id: str
        pickup: str
        days: int
        returns {
            reference: str
        }
        retry 2 backoff 5s
        timeout 1m
    }

    task CancelCar {
        reference: str
        retry 10 every 1m
        timeout 1m
    }

    # ---- the bookings: three machines of the same shape -----------------------

    # A single-instance machine: `on Abort` reaches its one instance.
    machine Flight {
        states Idle, Booking, Booked, Aborting, Cancelling, Cancelled, Failed, Stuck
        initial Idle
        final Cancelled, Failed, Stuck

        transition book: Idle -> Booking on TripRequested
            run BookFlight(trip_id = key, offer = event.flight_offer, traveller = event.traveller)
            set data.running = data.running + 1
        transition booked: Booking -> Booked on BookFlight completed
            set data.flight_pnr = event.pnr, data.running = data.running - 1
        # `Abort` is handled once this transition is applied: the other
        # bookings see the reason set and this booking no longer running.
        transition failed: Booking -> Failed on BookFlight failed
            set data.abort_reason = "flight: " + event.reason, data.running = data.running - 1
            emit Abort

        # Leaving `Booking` would drop the booking under way, and a seat
        # booked after that would never be cancelled: keep it in flight, and
        # handle its outcome in `Aborting`.
        transition abort: Booking -> Aborting on Abort
            keep BookFlight
        # One task in flight replaces another: `data.running` stays.
        transition late_booked: Aborting -> Cancelling on BookFlight completed
            run CancelFlight(pnr = event.pnr)
            set data.flight_pnr = event.pnr
        transition never_booked: Aborting -> Failed on BookFlight failed
            set data.running = data.running - 1

        transition undo: Booked -> Cancelling on Abort
            run CancelFlight(pnr = data.flight_pnr)
            set data.running = data.running + 1
        transition cancelled: Cancelling -> Cancelled on CancelFlight completed
            set data.running = data.running - 1
        # A booking nobody could cancel: a person must call the airline.
        transition stuck: Cancelling -> Stuck on CancelFlight failed
            set data.running = data.running - 1
    }

    machine Hotel {
        states Idle, Booking, Booked, Aborting, Cancelling, Cancelled, Failed, Stuck
        initial Idle
        final Cancelled, Failed, Stuck

        transition book: Idle -> Booking on TripRequested
            run BookHotel(trip_id = key, offer = event.hotel_offer, nights = event.nights)
            set data.running = data.running + 1
        transition booked: Booking -> Booked on BookHotel completed
            set data.hotel_ref = event.reference, data.running = data.running - 1
        transition failed: Booking -> Failed on BookHotel failed
            set data.abort_reason = "hotel: " + event.reason, data.running = data.running - 1
            emit Abort

        transition abort: Booking -> Aborting on Abort
            keep BookHotel
        transition late_booked: Aborting -> Cancelling on BookHotel completed
            run CancelHotel(reference = event.reference)
            set data.hotel_ref = event.reference
        transition never_booked: Aborting -> Failed on BookHotel failed
            set data.running = data.running - 1

        transition undo: Booked -> Cancelling on Abort
            run CancelHotel(reference = data.hotel_ref)
            set data.running = data.running + 1
        transition cancelled: Cancelling -> Cancelled on CancelHotel completed
            set data.running = data.running - 1
        transition stuck: Cancelling -> Stuck on CancelHotel failed
            set data.running = data.running - 1
    }

    machine Car {
        states Idle, Booking, Booked, Aborting, Cancelling, Cancelled, Skipped, Failed, Stuck
        initial Idle
        final Cancelled, Skipped, Failed, Stuck

        # Guards are tried in source order; the unguarded one is the
        # fallback and comes last: no car asked for, none booked.
        transition book: Idle -> Booking on TripRequested
            when "car" in event.extras
            run BookCar(trip_id = key, pickup = event.destination, days = event.nights + 1)
            set data.running = data.running + 1
        transition skip: Idle -> Skipped on TripRequested

        transition booked: Booking -> Booked on BookCar completed
            set data.car_ref = event.reference, data.running = data.running - 1
        transition failed: Booking -> Failed on BookCar failed
            set data.abort_reason = "car: " + event.reason, data.running = data.running - 1
            emit Abort

        transition abort: Booking -> Aborting on Abort
            keep BookCar
        transition late_booked: Aborting -> Cancelling on BookCar completed
            run CancelCar(reference = event.reference)
            set data.car_ref = event.reference
        transition never_booked: Aborting -> Failed on BookCar failed
            set data.running = data.running - 1

        transition undo: Booked -> Cancelling on Abort
            run CancelCar(reference = data.car_ref)
            set data.running = data.running + 1
        transition cancelled: Cancelling -> Cancelled on CancelCar completed
            set data.running = data.running - 1
        transition stuck: Cancelling -> Stuck on CancelCar failed
            set data.running = data.running - 1
    }

    # ---- the traveller ------------------------------------------------------------

    # Turns the traveller's abort into the same signal a failed booking
    # raises. The first reason wins: after a booking failed, the trip is
    # already being undone and the traveller's abort changes nothing.
    machine Traveller {
        states Travelling, Aborted
        initial Travelling
        final Aborted

        transition abort: Travelling -> Aborted on TravellerAborted
            when data.abort_reason is none
            set data.abort_reason = event.reason
            emit Abort
    }

    start on TripRequested

    complete when all Flight in Booked and all Hotel in Booked and all Car in Booked, Skipped

    # A data condition alone: undone, and nothing left running.
    fail when data.abort_reason is not none and data.running == 0
}
