"""Two machines, a self-loop and a timer: streams with TimerScheduled and TimerFired replay too.

With several machines the generated ``from_state`` / ``to_state`` accept the
states of every machine, so a state recorded for the wrong machine passes
validation; replay still names it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pmc.runtime import End, ProcessDefinition, ProcessManager, Worker
from pmc.runtime.stores import open_store
from pmc.streams.export import ExportedEvent, export_streams
from pmc.streams.replay import group_streams, replay
from tests.codegen.support import compile_text, import_code
from tests.replay.support import T0, replace_event, with_payload

TICKET = """
process RpTicket {
    key ticket_id
    event Pinged { ticket_id: str }
    event Solved { ticket_id: str }
    machine Ticket {
        states Open, Done
        initial Open
        final Done
        transition ping: Open -> Open on Pinged
        transition solve: Open -> Done on Solved
    }
    machine Deadline {
        states Waiting, Expired
        initial Waiting
        final Expired
        transition expire: Waiting -> Expired on after 1h
    }
    complete when all Ticket final
    fail when any Deadline in Expired
}
"""

MODULE = import_code(compile_text(TICKET, "rp_ticket.pm"))
DEFINITION: ProcessDefinition = MODULE.DEFINITION


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def recorded() -> list[ExportedEvent]:
    """t1 is pinged and solved in time; t2 is pinged, then its deadline expires."""
    clock = Clock()
    store = open_store("memory://", clock=clock)
    manager = ProcessManager(DEFINITION, store)
    for event in (
        MODULE.Pinged(ticket_id="t1"),
        MODULE.Solved(ticket_id="t1"),
        MODULE.Pinged(ticket_id="t2"),
    ):
        manager.handle(event)
    clock.now = T0 + timedelta(hours=2)
    Worker(DEFINITION, store, object()).drain()  # RpTicket has no tasks
    return list(export_streams(store, "RpTicket"))


def test_timers_self_loops_and_two_machines_replay_to_the_recorded_end() -> None:
    events = recorded()

    report = replay(DEFINITION, group_streams(events))

    assert report.ok, report.findings
    assert {s.key: s.state.end for s in report.streams if s.state} == {
        "t1": End.COMPLETED,
        "t2": End.FAILED,
    }
    assert {"RpTicket.TimerScheduled", "RpTicket.TimerFired"} <= {e.event for e in events}


def test_a_state_of_another_machine_is_named_although_it_validates() -> None:
    events = recorded()
    solve = next(e for e in events if e.payload.get("transition") == "solve")

    report = replay(
        DEFINITION,
        group_streams(replace_event(events, solve, lambda e: with_payload(e, to_state="Expired"))),
    )

    assert [(f.id, f.position.key, f.position.version, f.message) for f in report.findings] == [
        ("REPLAY_UNKNOWN_STATE", "t1", solve.version, "machine `Ticket` has no state `Expired`")
    ]


def test_a_timer_naming_an_unknown_transition() -> None:
    events = recorded()
    scheduled = next(e for e in events if e.event == "RpTicket.TimerScheduled")

    report = replay(
        DEFINITION,
        group_streams(
            replace_event(events, scheduled, lambda e: with_payload(e, transition="lapse"))
        ),
    )

    assert [(f.id, f.position.key, f.position.version) for f in report.findings] == [
        ("REPLAY_UNKNOWN_TRANSITION", scheduled.key, scheduled.version)
    ]
