"""The plain path's rarer steps decide as the generic path does.

A plain step that schedules a timer, a plain self-loop (which keeps its
state's timers and tasks), and an input whose metadata is of an odd type
(which goes down the generic path): the golden walk and the random walks of
``test_plain_steps`` reach none of these, so each is pinned here to the
generic path's decisions (and a timer's id to ``derived_id``).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from event_sourcery import Event

from pmc.runtime import ProcessState
from pmc.runtime.contract import EventMeta, derived_id
from pmc.runtime.engine import _decide_and_fold, _plain_input, _plans, decide_and_fold
from tests.codegen.support import compile_and_import
from tests.engine.test_plain_steps import Walk, events_of, shape
from tests.engine.test_trusted_events import assert_same

SOURCE = """
process ReviewSeven {
    key id

    event Submit { id: str }
    event Approve { id: str }
    event Ping { id: str }
    event Ship { id: str }

    task Notify {
        id: str
        step: str
    }

    machine Order {
        states Draft, Review, Shipping, Closed
        initial Draft
        final Closed

        transition submit: Draft -> Review on Submit
        transition approve: Review -> Shipping on Approve
            run Notify(id = key, step = "approved")
        transition ping: Shipping -> Shipping on Ping
        transition ship: Shipping -> Closed on Ship
        transition expire: Shipping -> Closed on after 1h
        transition notified: Shipping -> Shipping on Notify completed
        transition unnotified: Shipping -> Shipping on Notify failed
    }
}
"""
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
M = compile_and_import(SOURCE)
DEFN = M.DEFINITION


class _Later(datetime):
    """A timestamp of a ``datetime`` subclass (as a fake clock may hand over)."""


def meta(number: int, timestamp: datetime = T0, event_id: object = None) -> EventMeta:
    found = uuid.uuid5(uuid.NAMESPACE_OID, f"e{number}") if event_id is None else event_id
    return EventMeta(found, timestamp, "o1")  # type: ignore[arg-type]


def both(state: ProcessState, event: Event, at: EventMeta) -> tuple[list[Event], ProcessState]:
    """The fast path's decision, asserted equal to the generic path's."""
    fast_events, fast_state = decide_and_fold(DEFN, state, event, at)
    events, after = _decide_and_fold(DEFN, state, event, at, plain=False)
    assert len(fast_events) == len(events)
    for built, validated in zip(fast_events, events, strict=True):
        assert_same(built, validated)
    assert fast_state == after
    assert shape(fast_state) == shape(after)
    return fast_events, fast_state


def takes_plain_path(state: ProcessState, event: Event, at: EventMeta) -> bool:
    routes = DEFN.route(event)
    return _plain_input(_plans(DEFN), state, event, at, routes) is not None


def shipping() -> tuple[list[Event], ProcessState]:
    """Submitted, then approved: the plain step that plans a task and a timer."""
    _, state = both(DEFN.initial_state(), M.Submit(id="o1"), meta(0))
    approve = M.Approve(id="o1")
    assert takes_plain_path(state, approve, meta(1))
    return both(state, approve, meta(1))


def test_a_plain_step_that_plans_a_task_and_a_timer_records_what_the_generic_path_does() -> None:
    events, state = shipping()
    lc = DEFN.lifecycle
    (timer,) = [e for e in events if isinstance(e, lc.timer_scheduled)]
    planned = events[0]
    expected = derived_id(
        "timer",
        DEFN.category,
        "o1",
        meta(1).event_id,
        "Order",
        planned.machine_id,
        "approve",
        0,
        "expire",
    )
    assert timer.timer_id == expected
    assert list(state.timers) == [expected]
    assert [t.task for t in state.tasks.values()] == ["Notify"]


def test_a_plain_self_loop_keeps_the_timers_and_tasks_of_its_state() -> None:
    _, state = shipping()
    ping = M.Ping(id="o1")
    assert takes_plain_path(state, ping, meta(2))
    events, after = both(state, ping, meta(2))
    assert len(events) == 1  # the transition alone: no timer scheduled again
    assert after.timers == state.timers
    assert after.tasks == state.tasks


def test_odd_metadata_takes_the_generic_path_and_decides_the_same() -> None:
    _, state = both(DEFN.initial_state(), M.Submit(id="o1"), meta(0))
    approve = M.Approve(id="o1")
    odd_id = meta(1, event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, "e1")))
    odd_clock = meta(1, timestamp=_Later(2026, 1, 1, 12, 0, tzinfo=UTC))
    for at in (odd_id, odd_clock):
        assert not takes_plain_path(state, approve, at)
        both(state, approve, at)


# Plain steps of every shape the examples lack: wildcards into a state with
# timers, self-loops with timers and a task pending, a multi-instance machine
# whose instances each hold a timer, and two machines in one process.
WILD = compile_and_import(
    """
process Wild {
    key id
    event Go { id: str }
    event Poke { id: str }
    event Back { id: str }
    event Add { id: str  item: str }
    event Touch { id: str  item: str }
    event Done { id: str  item: str }
    task Work { id: str }
    machine M {
        states A, B, C, Z
        initial A
        final Z
        transition go: A -> B on Go run Work(id = key)
        transition back: * -> A on Back
        transition poke: * -> B on Poke
        transition waitb: B -> C on after 1h
        transition waitc: C -> A on after 2h
        transition fin: C -> Z on after 1d
        transition worked: B -> C on Work completed
        transition failed: B -> A on Work failed
    }
    machine Item {
        states New, Open, Closed
        initial New
        final Closed
        transition add: New -> Open on Add.item
        transition touch: * -> Open on Touch.item
        transition close: Open -> Closed on Done.item
        transition stale: Open -> Closed on after 1h
    }
}
"""
)


class _WildWalk(Walk):
    def __init__(self) -> None:
        self.m = WILD
        self.defn = WILD.DEFINITION
        self.state = self.defn.initial_state()
        self.stream = []
        self.now = T0
        self.plain = 0
        self.key = "r1"


def test_wildcards_self_loops_and_instances_with_timers_decide_alike_on_both_paths() -> None:
    met = 0
    for seed in range(40):
        choose = random.Random(seed)
        walk = _WildWalk()
        for number in range(60):
            if choose.random() < 0.15:
                walk.now += timedelta(seconds=choose.randint(0, 200_000))
                continue
            action = (choose.randint(0, 10), choose.randint(0, 10_000))
            for event in events_of(walk, action):
                walk.step(event, number)  # asserts both paths agree
        met += walk.plain
    assert met > 100, met
