"""The second edition end to end on every store: data, signals and deadlines recorded,
read back, folded and replayed to the state the decisions built.

The modules are the hand-written API 3 modules of the engine tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

import pmc.runtime as rt
from pmc.runtime import End, TaskContext, contract
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from pmc.streams.replay import replay, store_streams
from tests.engine import ed2_dunning, ed2_trip
from tests.runtime.support import Calls, names


class TripTasks:
    def __init__(self) -> None:
        self.calls = Calls()

    def book(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("Book", ctx)

    def unbook(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("Unbook", ctx)


class DunningTasks:
    """Charges fail softly, asking to be retried an hour after ``now``, then succeed."""

    def __init__(self, store: ProcessStore, soft: int) -> None:
        self.store = store
        self.soft = soft

    def charge(self, task: Any, ctx: TaskContext) -> dict[str, Any]:
        if task.attempt <= self.soft:
            return {"code": "soft", "retry_at": self.store.now() + timedelta(hours=1)}
        return {"code": "ok", "retry_at": None}


def test_signals_and_instance_data_are_recorded_and_fold_back(store: ProcessStore) -> None:
    m = ed2_trip
    manager = ProcessManager(m.DEFINITION, store)
    manager.handle(m.Booked(trip_id="t1", legs=["a", "b", "c"]))

    result = manager.handle(m.LegFailed(trip_id="t1", leg="b"))

    assert result.status is HandleStatus.RECORDED
    assert names(result.decisions).count("SignalRaised") == 4
    tasks = TripTasks()
    Worker(m.DEFINITION, store, tasks, worker_id="w1").drain()
    state = manager.state("t1")
    assert state.data == m.EdTripData(log="failed b;abort a;abort c;")
    assert state.instance_data["Leg"] == {n: m.LegData(tries=1) for n in "abc"}
    assert dict(state.instances_of("Leg")) == {"a": "Undone", "b": "Failed", "c": "Undone"}
    # The bookings were dropped when their legs left `Booking`: only the undos ran.
    assert (tasks.calls.of("Book"), sorted(tasks.calls.of("Unbook"))) == ([], [("a", 1), ("c", 1)])
    # The stored stream folds to the state the decisions built, and pmc replay agrees.
    assert manager.replay("t1") == state
    replayed = replay(m.DEFINITION, store_streams(store, "EdTrip"))
    assert replayed.ok, replayed.findings
    assert {s.key: s.state for s in replayed.streams} == {"t1": state}


def test_a_transition_caused_by_a_signal_names_the_stored_signal_raised(
    store: ProcessStore,
) -> None:
    m = ed2_trip
    manager = ProcessManager(m.DEFINITION, store)
    manager.handle(m.Booked(trip_id="t2", legs=["a"]))

    result = manager.handle(m.Forget(trip_id="t2", leg="z"))

    history = manager.history("t2")
    (raised,) = [e for e in history if type(e.event).__name__ == "SignalRaised"]
    undo = next(e.event for e in history if getattr(e.event, "transition", "") == "undo")
    assert raised.event_id == contract.decision_id(result.event_id, 1)
    assert undo.caused_by == raised.event_id


def test_data_and_an_at_deadline_through_sync_tasks_and_a_worker(store: ProcessStore) -> None:
    m = ed2_dunning
    tasks = DunningTasks(store, soft=1)
    manager = ProcessManager(m.DEFINITION, store, tasks, with_worker=True)

    manager.handle(m.Opened(invoice_id="i1", retry_at=None))

    state = manager.state("i1")
    assert (state.of("Billing"), state.data.attempts) == ("Waiting", 1)
    (timer,) = state.timers.values()
    assert timer.due_at == state.data.retry_at
    # Due in an hour: a worker now fires nothing.
    Worker(m.DEFINITION, store, tasks, worker_id="w1").drain()
    assert manager.state("i1").of("Billing") == "Waiting"
    assert manager.replay("i1") == manager.state("i1")


def test_a_data_condition_completes_the_process_on_every_store(store: ProcessStore) -> None:
    m = ed2_dunning
    manager = ProcessManager(m.DEFINITION, store, DunningTasks(store, soft=0))

    manager.handle(m.Opened(invoice_id="i2", retry_at=None))

    state = manager.state("i2")
    assert isinstance(state.data, m.EdDunningData)
    assert (state.data.paid, state.end) == (True, End.COMPLETED)
    assert manager.replay("i2") == state


# ---- a generated function that raises ------------------------------------------------

_Billing = ed2_dunning.BillingState
_SOON = datetime(2030, 1, 1, tzinfo=UTC)


def _when_later(s: rt.Scope[Any, Any, Any]) -> bool:
    return bool(s.event.retry_at > s.data.retry_at)


def _set_overflowing(s: rt.Scope[Any, Any, Any]) -> rt.Assignments:
    return rt.Assignments(data={"attempts": 1e308 * 10})


class Edited(ed2_dunning.EdDunning):
    """EdDunning edited: a charge is retried softly only when it asks for a
    later retry than the one recorded (``when event.retry_at > data.retry_at``),
    and a `Swap` while charging sets ``data.attempts`` to a float that overflowed."""

    transitions: ClassVar[rt.TransitionTable] = {
        **ed2_dunning.EdDunning.transitions,
        ("Billing", _Billing.Charging, "Charge completed"): rt.TransitionSpec(
            name="soft", target=_Billing.Waiting, guard=_when_later
        ),
        ("Billing", _Billing.Charging, "Swap"): rt.TransitionSpec(
            name="swap", target=_Billing.Charging, assign=_set_overflowing
        ),
    }


class NaiveRetry:
    """Asks for a retry at a naive instant: comparing it with an aware one raises TypeError."""

    def charge(self, task: Any, ctx: TaskContext) -> dict[str, Any]:
        return {"code": "soft", "retry_at": datetime(2030, 1, 2)}


def test_an_outcome_whose_decision_raises_is_recorded_and_fails_the_process(
    store: ProcessStore,
) -> None:
    definition = Edited()
    # No handlers, and no grace: a worker runs the charge at once.
    manager = ProcessManager(definition, store, sync_grace=timedelta(0))
    manager.handle(ed2_dunning.Opened(invoice_id="i3", retry_at=_SOON))

    Worker(definition, store, NaiveRetry(), worker_id="w1").drain()

    # The outcome is recorded, and the process fails saying why, instead of
    # the outcome being lost to the guard's TypeError.
    history = manager.history("i3")
    assert names(history)[-2:] == ["TaskCompleted", "ProcessFailed"]
    state = manager.state("i3")
    assert (state.end, state.end_reason) == (
        End.FAILED,
        "EdDunning i3: Billing, transition `soft`: its `when` raised TypeError:"
        " can't compare offset-naive and offset-aware datetimes",
    )
    # The decision is pure: a replay decides it again and agrees.
    replayed = replay(definition, store_streams(store, "EdDunning"))
    assert replayed.ok, replayed.findings
    assert {s.key: s.state for s in replayed.streams} == {"i3": state}


def test_an_input_event_whose_decision_raises_is_refused_and_nothing_is_recorded(
    store: ProcessStore,
) -> None:
    definition = Edited()
    manager = ProcessManager(definition, store)
    manager.handle(ed2_dunning.Opened(invoice_id="i4", retry_at=_SOON))
    before = manager.history("i4")

    with pytest.raises(rt.DecisionError) as raised:
        manager.handle(ed2_dunning.Swap(invoice_id="i4"))

    assert str(raised.value) == (
        "EdDunning i4: Billing, transition `swap`: its `set` raised ValidationError:"
        " attempts: Input should be a finite number"
    )
    # The caller still holds its event: nothing of it is in the stream.
    assert manager.history("i4") == before
