"""Streams with data and signals replay; a signal no longer declared, or recorded `set`
values the records no longer take, are findings at the event that recorded them.

The streams are recorded by the hand-written API 3 modules of the engine tests;
a changed process is a subclass of their definition.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import ClassVar

import pytest

import pmc.runtime as rt
from pmc.runtime import ProcessManager
from pmc.runtime.stores import open_store
from pmc.streams.export import ExportedEvent, export_streams
from pmc.streams.replay import ReplayReport, group_streams, replay
from tests.engine import ed2_dunning, ed2_trip
from tests.replay.support import FixedClock, finding


@pytest.fixture(scope="module")
def trip() -> tuple[ExportedEvent, ...]:
    """Trip t1: legs a and b booked, then `Undo` of z raised (z created and undone)."""
    store = open_store("memory://", clock=FixedClock())
    manager = ProcessManager(ed2_trip.DEFINITION, store)
    manager.handle(ed2_trip.Booked(trip_id="t1", legs=["a", "b"]))
    manager.handle(ed2_trip.Forget(trip_id="t1", leg="z"))
    return tuple(export_streams(store, "EdTrip"))


class HardDecline:
    """The handler of EdDunning's sync `Charge`: every card is declined for good."""

    def charge(self, task: object, ctx: rt.TaskContext) -> dict[str, object]:
        return {"code": "hard", "retry_at": None}


@pytest.fixture(scope="module")
def dunning() -> tuple[ExportedEvent, ...]:
    """Invoice i1 opened (`attempts` set to 1), its charge declined: `declined`, the
    first transition of a row of three, is recorded."""
    store = open_store("memory://", clock=FixedClock())
    ProcessManager(ed2_dunning.DEFINITION, store, HardDecline()).handle(
        ed2_dunning.Opened(invoice_id="i1", retry_at=None)
    )
    return tuple(export_streams(store, "EdDunning"))


def run(definition: rt.ProcessDefinition, events: tuple[ExportedEvent, ...]) -> ReplayReport:
    return replay(definition, group_streams(events))


def test_streams_with_signals_and_data_replay_to_the_recorded_records(
    trip: tuple[ExportedEvent, ...], dunning: tuple[ExportedEvent, ...]
) -> None:
    trips = run(ed2_trip.DEFINITION, trip)
    invoices = run(ed2_dunning.DEFINITION, dunning)

    assert (trips.ok, invoices.ok) == (True, True), trips.findings + invoices.findings
    (t1,) = trips.streams
    (i1,) = invoices.streams
    assert t1.state is not None and i1.state is not None
    assert t1.state.instance_data["Leg"] == {
        "a": ed2_trip.LegData(tries=1),
        "b": ed2_trip.LegData(tries=1),
        "z": ed2_trip.LegData(),
    }
    assert i1.state.data == ed2_dunning.EdDunningData(attempts=1)
    assert i1.state.of("Billing") == "Failed"


def test_a_signal_no_longer_declared(trip: tuple[ExportedEvent, ...]) -> None:
    class WithoutUndo(ed2_trip.EdTrip):
        signals: ClassVar = {"Abort": ed2_trip.Abort, "Note": ed2_trip.Note}

    raised = next(e for e in trip if e.event == "EdTrip.SignalRaised")

    report = run(WithoutUndo(), trip)

    assert report.findings == (
        finding(
            "REPLAY_UNKNOWN_SIGNAL",
            "EdTrip",
            "t1",
            raised.version,
            "EdTrip.SignalRaised",
            "unknown signal `Undo`",
        ),
    )


def test_a_recorded_signal_name_is_checked_before_its_payload(
    trip: tuple[ExportedEvent, ...],
) -> None:
    raised = next(e for e in trip if e.event == "EdTrip.SignalRaised")
    renamed = replace(raised, payload={**raised.payload, "signal": "Vanish"})

    report = run(ed2_trip.DEFINITION, tuple(renamed if e == raised else e for e in trip))

    assert [(f.id, f.message) for f in report.findings] == [
        ("REPLAY_UNKNOWN_SIGNAL", "unknown signal `Vanish`")
    ]


class UndoByNumber(rt.SignalPayload):
    leg: int


def test_a_recorded_signal_payload_the_signal_no_longer_takes(
    trip: tuple[ExportedEvent, ...],
) -> None:
    class Retyped(ed2_trip.EdTrip):
        signals: ClassVar = {**ed2_trip.EdTrip.signals, "Undo": UndoByNumber}

    raised = next(e for e in trip if e.event == "EdTrip.SignalRaised")

    report = run(Retyped(), trip)

    assert report.findings == (
        finding(
            "REPLAY_INVALID_PAYLOAD",
            "EdTrip",
            "t1",
            raised.version,
            "EdTrip.SignalRaised",
            "payload of signal `Undo`: field `leg`: Input should be a valid integer,"
            " unable to parse string as an integer",
        ),
    )


class DunningDataWithoutAttempts(rt.ProcessData):
    retry_at: datetime | None = None
    paid: bool = False
    first: str = "a"
    second: str = "b"


def test_a_data_field_recorded_values_name_that_no_longer_exists(
    dunning: tuple[ExportedEvent, ...],
) -> None:
    class Removed(ed2_dunning.EdDunning):
        data_model = DunningDataWithoutAttempts

    report = run(Removed(), dunning)

    (problem,) = report.findings
    assert (problem.id, problem.position.version) == ("REPLAY_INVALID_DATA", 2)
    assert problem.message == (
        "the `data` values transition `charge` set no longer fit `DunningDataWithoutAttempts`:"
        " field `attempts`: Extra inputs are not permitted"
    )
    assert report.streams[0].state is None


class LegDataRetyped(rt.ProcessData):
    tries: str = ""
    ref: str = "none"


def test_an_instance_field_retyped_so_recorded_values_no_longer_fit(
    trip: tuple[ExportedEvent, ...],
) -> None:
    class Retyped(ed2_trip.EdTrip):
        machines = (
            replace(ed2_trip.EdTrip.machines[0], data=LegDataRetyped),
            ed2_trip.EdTrip.machines[1],
        )

    report = run(Retyped(), trip)

    (problem,) = report.findings
    assert (problem.id, problem.position.version) == ("REPLAY_INVALID_DATA", 2)
    assert problem.message == (
        "the `instance` values transition `book` set no longer fit `LegDataRetyped`:"
        " field `tries`: Input should be a valid string"
    )
