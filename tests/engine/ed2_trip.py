"""A runtime API 3 module with signals, written by hand the way pmc generates one, from:

    process EdTrip {
        key trip_id
        data { log: str = "" }
        event Booked { trip_id: str  legs: list[str] }
        event LegFailed { trip_id: str  leg: str }
        event Forget { trip_id: str  leg: str }
        event Done { trip_id: str }
        signal Abort {}
        signal Note { text: str }
        signal Undo { leg: str }
        task Book { leg: str  attempt: int }
        task Unbook { leg: str }
        machine Leg {
            data { tries: int = 0  ref: str = "none" }
            states New, Booking, Booked, Failed, Undoing, Undone
            initial New
            final Booked, Failed, Undone
            transition book: New -> Booking on Booked.legs
                run Book(leg = machine_id, attempt = instance.tries + 1)
                set instance.tries = instance.tries + 1
            transition booked: Booking -> Booked on Book completed
            transition not_booked: Booking -> Failed on Book failed
            transition fail: Booking -> Failed on LegFailed.leg
                emit Abort
                emit Note(text = "failed " + machine_id)
            transition abort: Booking -> Undoing on Abort
                run Unbook(leg = machine_id)
                emit Note(text = "abort " + machine_id)
            transition undo: New -> Undone on Undo.leg
            transition undone: Undoing -> Undone on Unbook completed
            transition not_undone: Undoing -> Undone on Unbook failed
        }
        machine Ledger {
            states Open, Closed
            initial Open
            final Closed
            transition close: Open -> Closed on Done
            transition note: Open -> Open on Note set data.log = data.log + event.text + ";"
            transition forget: Open -> Open on Forget emit Undo(leg = event.leg)
        }
    }

`Abort` is broadcast to every `Leg`, `Undo` selects one (and creates it if
it never existed), `Note` goes to the single `Ledger`. See ``ed2_dunning.py``
for why the module is written by hand.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from event_sourcery import Event

import pmc.runtime as rt

rt.require_api(4, source="ed2_trip.pm")


class EdTripData(rt.ProcessData):
    log: str = ""


class LegData(rt.ProcessData):
    tries: int = 0
    ref: str = "none"


class Booked(rt.InputEvent):
    __event_name__ = "EdTrip.Booked"
    trip_id: str
    legs: list[str]


class LegFailed(rt.InputEvent):
    __event_name__ = "EdTrip.LegFailed"
    trip_id: str
    leg: str


class Forget(rt.InputEvent):
    __event_name__ = "EdTrip.Forget"
    trip_id: str
    leg: str


class Done(rt.InputEvent):
    __event_name__ = "EdTrip.Done"
    trip_id: str


class Abort(rt.SignalPayload):
    pass


class Note(rt.SignalPayload):
    text: str


class Undo(rt.SignalPayload):
    leg: str


class Book(rt.TaskInput):
    leg: str
    attempt: int


class Unbook(rt.TaskInput):
    leg: str


class LegState(StrEnum):
    New = "New"
    Booking = "Booking"
    Booked = "Booked"
    Failed = "Failed"
    Undoing = "Undoing"
    Undone = "Undone"


class LedgerState(StrEnum):
    Open = "Open"
    Closed = "Closed"


class TransitionPlanned(rt.TransitionPlannedBase):
    __event_name__ = "EdTrip.TransitionPlanned"
    machine_states: ClassVar = {"Leg": LegState, "Ledger": LedgerState}
    machine: Literal["Leg", "Ledger"]
    transition: Literal[
        "book",
        "booked",
        "not_booked",
        "fail",
        "abort",
        "undo",
        "undone",
        "not_undone",
        "close",
        "note",
        "forget",
    ]
    from_state: LegState | LedgerState
    to_state: LegState | LedgerState
    task: Literal["Book", "Unbook"] | None = None
    task_mode: Literal["async"] | None = None


class SignalRaised(rt.SignalRaisedBase):
    __event_name__ = "EdTrip.SignalRaised"
    signal: Literal["Abort", "Note", "Undo"]
    machine: Literal["Leg", "Ledger"]
    transition: Literal["fail", "abort", "forget"]


class TaskStarted(rt.TaskStartedBase):
    __event_name__ = "EdTrip.TaskStarted"


class TaskCompleted(rt.TaskCompletedBase):
    __event_name__ = "EdTrip.TaskCompleted"
    machine: Literal["Leg"]
    transition: Literal["book", "abort"]


class TaskFailed(rt.TaskFailedBase):
    __event_name__ = "EdTrip.TaskFailed"
    machine: Literal["Leg"]
    transition: Literal["book", "abort"]


class TaskRetryScheduled(rt.TaskRetryScheduledBase):
    __event_name__ = "EdTrip.TaskRetryScheduled"


class TaskTimedOut(rt.TaskTimedOutBase):
    __event_name__ = "EdTrip.TaskTimedOut"


class TimerScheduled(rt.TimerScheduledBase):
    __event_name__ = "EdTrip.TimerScheduled"


class TimerFired(rt.TimerFiredBase):
    __event_name__ = "EdTrip.TimerFired"


class ProcessCompleted(rt.ProcessCompletedBase):
    __event_name__ = "EdTrip.ProcessCompleted"


class ProcessFailed(rt.ProcessFailedBase):
    __event_name__ = "EdTrip.ProcessFailed"


class ProcessCancelled(rt.ProcessCancelledBase):
    __event_name__ = "EdTrip.ProcessCancelled"


_S = rt.Scope


def _bind_book(s: _S[Booked, EdTripData, LegData]) -> Book:
    return Book(leg=s.machine_id, attempt=(s.instance.tries + 1))


def _set_book(s: _S[Booked, EdTripData, LegData]) -> rt.Assignments:
    return rt.Assignments(instance={"tries": (s.instance.tries + 1)})


def _emit_fail(s: _S[LegFailed, EdTripData, LegData]) -> tuple[rt.SignalPayload, ...]:
    return (Abort(), Note(text=("failed " + s.machine_id)))


def _bind_abort(s: _S[Abort, EdTripData, LegData]) -> Unbook:
    return Unbook(leg=s.machine_id)


def _emit_abort(s: _S[Abort, EdTripData, LegData]) -> tuple[rt.SignalPayload, ...]:
    return (Note(text=("abort " + s.machine_id)),)


def _set_note(s: _S[Note, EdTripData, rt.NoData]) -> rt.Assignments:
    return rt.Assignments(data={"log": ((s.data.log + s.event.text) + ";")})


def _emit_forget(s: _S[Forget, EdTripData, rt.NoData]) -> tuple[rt.SignalPayload, ...]:
    return (Undo(leg=s.event.leg),)


_L = LegState


class EdTrip(rt.ProcessDefinition):
    api = 4
    category = "EdTrip"
    key_field = "trip_id"
    events = (Booked, LegFailed, Forget, Done)
    start_on = (Booked, LegFailed, Forget, Done)
    cancel_on = ()
    data_model = EdTripData
    signals: ClassVar = {"Abort": Abort, "Note": Note, "Undo": Undo}
    machines = (
        rt.MachineSpec(
            name="Leg",
            states=LegState,
            initial=_L.New,
            final=(_L.Booked, _L.Failed, _L.Undone),
            multi_instance=True,
            data=LegData,
        ),
        rt.MachineSpec(
            name="Ledger",
            states=LedgerState,
            initial=LedgerState.Open,
            final=(LedgerState.Closed,),
            multi_instance=False,
        ),
    )
    tasks: ClassVar[rt.TaskTable] = {
        "Book": rt.TaskSpec(name="Book", mode="async", input=Book, result=None, method="book"),
        "Unbook": rt.TaskSpec(
            name="Unbook", mode="async", input=Unbook, result=None, method="unbook"
        ),
    }
    transitions: ClassVar[rt.TransitionTable] = {
        ("Leg", _L.New, "Booked"): rt.TransitionSpec(
            name="book", target=_L.Booking, task="Book", bind=_bind_book, assign=_set_book
        ),
        ("Leg", _L.Booking, "Book completed"): rt.TransitionSpec(name="booked", target=_L.Booked),
        ("Leg", _L.Booking, "Book failed"): rt.TransitionSpec(name="not_booked", target=_L.Failed),
        ("Leg", _L.Booking, "LegFailed"): rt.TransitionSpec(
            name="fail", target=_L.Failed, emit=_emit_fail
        ),
        ("Leg", _L.Booking, "signal:Abort"): rt.TransitionSpec(
            name="abort", target=_L.Undoing, task="Unbook", bind=_bind_abort, emit=_emit_abort
        ),
        ("Leg", _L.New, "signal:Undo"): rt.TransitionSpec(name="undo", target=_L.Undone),
        ("Leg", _L.Undoing, "Unbook completed"): rt.TransitionSpec(name="undone", target=_L.Undone),
        ("Leg", _L.Undoing, "Unbook failed"): rt.TransitionSpec(
            name="not_undone", target=_L.Undone
        ),
        ("Ledger", LedgerState.Open, "Done"): rt.TransitionSpec(
            name="close", target=LedgerState.Closed
        ),
        ("Ledger", LedgerState.Open, "signal:Note"): rt.TransitionSpec(
            name="note", target=LedgerState.Open, assign=_set_note
        ),
        ("Ledger", LedgerState.Open, "Forget"): rt.TransitionSpec(
            name="forget", target=LedgerState.Open, emit=_emit_forget
        ),
    }
    timers: ClassVar[rt.TimerTable] = {}
    wildcard_transitions: ClassVar[rt.WildcardTable] = {}
    wildcard_timers: ClassVar[rt.WildcardTimerTable] = {}
    complete_when = (rt.AllFinal("Leg"), rt.AllFinal("Ledger"))
    fail_when = ()
    lifecycle = rt.LifecycleTypes(
        transition_planned=TransitionPlanned,
        task_started=TaskStarted,
        task_completed=TaskCompleted,
        task_failed=TaskFailed,
        task_retry_scheduled=TaskRetryScheduled,
        task_timed_out=TaskTimedOut,
        timer_scheduled=TimerScheduled,
        timer_fired=TimerFired,
        process_completed=ProcessCompleted,
        process_failed=ProcessFailed,
        process_cancelled=ProcessCancelled,
        signal_raised=SignalRaised,
    )

    @staticmethod
    def route(_event: Event) -> list[rt.Route]:
        match _event:
            case Booked():
                return [rt.Route("Leg", tuple(_event.legs))]
            case LegFailed():
                return [rt.Route("Leg", (_event.leg,))]
            case Forget() | Done():
                return [rt.Route("Ledger", ("Ledger",))]
            case _:
                return []

    @staticmethod
    def route_signal(_payload: rt.SignalPayload) -> list[rt.Route]:
        match _payload:
            case Abort():
                return [rt.Route("Leg", broadcast=True)]
            case Note():
                return [rt.Route("Ledger", ("Ledger",))]
            case Undo():
                return [rt.Route("Leg", (_payload.leg,))]
            case _:
                return []


DEFINITION = EdTrip()
