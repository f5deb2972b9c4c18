"""Signals (SPEC §6): raised after the decisions of what caused them, handled first in first out.

Run on ``ed2_trip``, a module written by hand as pmc generates it (its
docstring has the `.pm` source): `Abort` is broadcast to every `Leg`,
`Undo` selects one, `Note` goes to the single `Ledger`, which logs each
note's text in the process data.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import pmc.runtime as rt
from pmc.runtime.contract import decision_id
from tests.engine import ed2_trip as m
from tests.engine.ed2_scenario import CheckedScenario


def booked(*legs: str) -> CheckedScenario:
    return CheckedScenario(m).given(m.Booked(trip_id="r1", legs=list(legs)))


def steps(decisions: list[Any]) -> list[tuple[str, ...]]:
    """Each decision as (kind, what, who), in the order decided."""
    out: list[tuple[str, ...]] = []
    for d in decisions:
        if isinstance(d, m.SignalRaised):
            out.append(("raised", d.signal, d.machine_id))
        elif isinstance(d, m.TransitionPlanned):
            out.append(("planned", d.transition, d.machine_id))
    return out


def test_a_signal_is_raised_after_the_causing_decisions_then_its_own_follow() -> None:
    s = booked("a", "b", "c")
    meta = s.meta()

    decisions = s.handle(m.LegFailed(trip_id="r1", leg="b"), meta)

    assert steps(decisions) == [
        ("planned", "fail", "b"),
        # The two signals `fail` emitted, in the order written; each one's
        # decisions right after it, and the notes `abort` emitted queue
        # behind the note `fail` emitted first.
        ("raised", "Abort", "b"),
        ("planned", "abort", "a"),
        ("planned", "abort", "c"),
        ("raised", "Note", "b"),
        ("planned", "note", "Ledger"),
        ("raised", "Note", "a"),
        ("planned", "note", "Ledger"),
        ("raised", "Note", "c"),
        ("planned", "note", "Ledger"),
    ]
    assert s.state.data.log == "failed b;abort a;abort c;"
    # A transition names what caused it: the event, or the SignalRaised
    # whose stored id is its position in the decision.
    ids = [decision_id(meta.event_id, index) for index in range(len(decisions))]
    causes = [
        (d.transition, ids.index(d.caused_by) if d.caused_by in ids else "event")
        for d in decisions
        if isinstance(d, m.TransitionPlanned)
    ]
    assert causes == [
        ("fail", "event"),
        ("abort", 1),
        ("abort", 1),
        ("note", 4),
        ("note", 6),
        ("note", 8),
    ]


def test_signal_raised_records_the_payload_and_who_emitted_it() -> None:
    s = booked("a", "b")

    decisions = s.when(m.LegFailed(trip_id="r1", leg="a"))

    note = next(d for d in decisions if isinstance(d, m.SignalRaised) and d.signal == "Note")
    assert (note.payload, note.machine, note.machine_id, note.transition) == (
        {"text": "failed a"},
        "Leg",
        "a",
        "fail",
    )


def test_a_broadcast_signal_reaches_every_instance_whose_state_accepts_it() -> None:
    s = booked("a", "b", "c")
    s.given(m.Forget(trip_id="r1", leg="x"))  # `x` is created, and Undone at once

    s.when(m.LegFailed(trip_id="r1", leg="c"))

    assert dict(s.state.instances_of("Leg")) == {
        "a": "Undoing",
        "b": "Undoing",
        "c": "Failed",
        "x": "Undone",
    }
    unbooked = [p.task_input for p in s.of_type("TransitionPlanned") if p.task == "Unbook"]
    assert unbooked == [{"leg": "a"}, {"leg": "b"}]


def test_a_selected_signal_creates_an_instance_never_seen_with_its_defaults() -> None:
    s = booked("a")

    decisions = s.when(m.Forget(trip_id="r1", leg="z"))

    assert steps(decisions) == [
        ("planned", "forget", "Ledger"),
        ("raised", "Undo", "Ledger"),
        ("planned", "undo", "z"),
    ]
    assert s.state.instances_of("Leg")["z"] == "Undone"
    assert s.state.instance_data["Leg"]["z"] == m.LegData()


def test_a_signal_no_instance_accepts_is_still_recorded() -> None:
    s = booked("a")
    s.given(m.Forget(trip_id="r1", leg="a"))  # `a` is Booking: no `undo` there

    decisions = s.when(m.Forget(trip_id="r1", leg="a"))

    assert steps(decisions) == [("planned", "forget", "Ledger"), ("raised", "Undo", "Ledger")]


def test_instance_data_starts_at_the_machine_defaults_and_keeps_what_set_wrote() -> None:
    s = booked("a", "b")

    (a, b) = s.of_type("TransitionPlanned")

    # `book` read tries = 0 (the default) for its input, and recorded 1.
    assert (a.task_input, a.instance_set) == ({"leg": "a", "attempt": 1}, {"tries": 1})
    assert b.data_set is None
    assert s.state.instance_data["Leg"] == {
        "a": m.LegData(tries=1),
        "b": m.LegData(tries=1),
    }
    assert isinstance(s.state.instance_data["Leg"]["a"], m.LegData)


def ledger_emitting(trigger: str, *payloads: rt.SignalPayload) -> rt.ProcessDefinition:
    """EdTrip edited by hand: the Ledger's transition on ``trigger`` emits ``payloads``.

    (Named `forget`, a transition that emits, so the module's SignalRaised takes it.)
    """

    def emit(scope: rt.Scope[Any, Any, Any]) -> tuple[rt.SignalPayload, ...]:
        return payloads

    class Edited(m.EdTrip):
        transitions: ClassVar[rt.TransitionTable] = {
            **m.EdTrip.transitions,
            ("Ledger", m.LedgerState.Open, trigger): rt.TransitionSpec(
                name="forget", target=m.LedgerState.Open, emit=emit
            ),
        }

    return Edited()


def test_a_fan_out_raises_any_number_of_signals() -> None:
    # No cycle: each note is handled by a transition that emits nothing.
    s = booked("a")
    s.definition = ledger_emitting("Forget", *(m.Note(text="n") for _ in range(10_001)))

    decisions = s.when(m.Forget(trip_id="r1", leg="a"))

    assert sum(isinstance(d, m.SignalRaised) for d in decisions) == 10_001
    assert s.state.data.log.count("n;") == 10_001


def test_a_signal_cycle_stops_with_a_clear_error() -> None:
    # A note emits a note: `pmc check` refuses this (PM0311). EdTrip declares
    # three signals, so a chain of four can only be a cycle.
    s = booked("a")
    s.definition = ledger_emitting("signal:Note", m.Note(text="again"))

    with pytest.raises(rt.SignalError, match=r"4 deep .* declares 3: only a signal cycle"):
        s.when(m.LegFailed(trip_id="r1", leg="a"))


class Stranger(rt.SignalPayload):
    """A payload class that is no signal of EdTrip."""


def test_emitting_what_is_not_a_signal_of_the_process_is_an_error() -> None:
    s = booked("a")
    s.definition = ledger_emitting("Forget", Stranger())

    with pytest.raises(rt.SignalError, match="Stranger, which is not a signal of EdTrip"):
        s.when(m.Forget(trip_id="r1", leg="a"))
