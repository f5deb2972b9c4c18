"""``Operations``: pages of instances and the description of one, as an operator sees them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pmc.runtime.instances import InstanceStatus
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operations import Operations, UnknownInstance
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from tests.operations.index_support import forget_index
from tests.operations.test_index import ShipFailsFor, four_orders
from tests.runtime.counting import counting
from tests.runtime.support import T0, FakeClock, OrderTasks, definition, order, tally


def test_pages_say_where_the_next_one_starts(store: ProcessStore) -> None:
    m = tally()
    manager = ProcessManager(definition(m), store)
    for key in ["k1", "k2", "k3", "k4", "k5"]:
        manager.handle(m.Tick(tally_id=key, n=1))
    operations = Operations(definition(m), store)

    first = operations.instances(limit=2)
    second = operations.instances(limit=2, after=first.next_after)
    last = operations.instances(limit=2, after=second.next_after)
    exact = operations.instances(limit=5)

    assert [[row.key for row in page.items] for page in (first, second, last)] == [
        ["k1", "k2"],
        ["k3", "k4"],
        ["k5"],
    ]
    assert (first.next_after, second.next_after, last.next_after) == ("k2", "k4", None)
    assert (len(exact.items), exact.next_after) == (5, None)  # no empty page to ask for


def test_filters_are_checked_against_the_definition(store: ProcessStore) -> None:
    operations = Operations(definition(order()), store)

    with pytest.raises(ValueError, match=r"unknown status 'runing' \(statuses: running,"):
        operations.instances(status="runing")
    with pytest.raises(ValueError, match=r"no machine 'Ordr' \(machines: Deadline, Order\)"):
        operations.instances(state=("Ordr", "New"))
    with pytest.raises(ValueError, match=r"machine Order has no state 'Shiped' \(states: New,"):
        operations.instances(state=("Order", "Shiped"))
    with pytest.raises(ValueError, match="limit must be between 1 and 1000"):
        operations.instances(limit=1001)


def test_filters_reach_the_store(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)
    clock.advance(minutes=10)
    operations = Operations(definition(order()), store)

    def listed(**filters: object) -> list[str]:
        return [row.key for row in operations.instances(**filters).items]  # type: ignore[arg-type]

    assert listed(status="failed") == ["lost"]
    assert listed(status=InstanceStatus.CANCELLED) == ["gone"]
    assert listed(state=("Order", "Shipped")) == ["done"]
    assert listed(stuck_for=timedelta(minutes=5)) == ["waiting"]
    assert listed(updated_before=T0 + timedelta(seconds=1)) == ["done"]


def test_describe_tells_states_data_pending_work_and_the_timeline(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    tasks = ShipFailsFor("o1")
    ProcessManager(definition(m), store, tasks).handle(m.Placed(order_id="o1", items=["book"]))
    Worker(definition(m), store, tasks).drain()  # Ship's first attempt fails

    described = Operations(definition(m), store).describe("o1")

    assert (described.status, described.version, described.indexed) == (
        InstanceStatus.RUNNING,
        store.version("RtOrder", "o1"),
        True,
    )
    assert described.states == {"Order": {"Order": "Shipping"}, "Deadline": {"Deadline": "Open"}}
    (ship,) = described.tasks
    assert (ship.task, ship.attempt, ship.status, ship.not_before, ship.input) == (
        "Ship",
        2,
        "retry_scheduled",
        T0 + timedelta(seconds=2),
        {"order_id": "o1", "reservation": "res-o1"},
    )
    (deadline,) = described.timers
    assert (deadline.transition, deadline.due_at) == ("expire", T0 + timedelta(hours=1))
    assert described.last_failure is not None
    assert (described.last_failure.task, described.last_failure.reason) == (
        "Ship",
        "no carrier for o1",
    )
    assert described.next_due == T0 + timedelta(seconds=2)  # the retry
    assert [entry.type for entry in described.timeline] == [
        "RtOrder.Placed",
        "RtOrder.TransitionPlanned",
        "RtOrder.TimerScheduled",
        "RtOrder.TaskStarted",
        "RtOrder.TaskCompleted",
        "RtOrder.TransitionPlanned",
        "RtOrder.TaskStarted",
        "RtOrder.TaskFailed",
        "RtOrder.TaskRetryScheduled",
    ]
    assert [entry.version for entry in described.timeline] == list(range(1, 10))
    assert described.timeline[0].payload == {"order_id": "o1", "items": ["book"]}
    # Plain JSON all through, for `pmc show --format json` and web pages.
    assert json.loads(json.dumps(described.to_json()))["tasks"][0]["status"] == "retry_scheduled"


def test_describe_reads_the_stream_once(store: ProcessStore) -> None:
    m = order()
    tasks = ShipFailsFor("o1")
    ProcessManager(definition(m), store, tasks).handle(m.Placed(order_id="o1", items=["book"]))
    Worker(definition(m), store, tasks).drain()
    counted_store, calls = counting(store)

    described = Operations(definition(m), counted_store).describe("o1")

    # The timeline (events as stored) and the fold (events as classes) share one read.
    assert calls.take() == {"load_recorded": 1}
    assert described.version == len(described.timeline) == store.version("RtOrder", "o1")


def test_describe_folds_the_stream_whether_or_not_it_is_indexed(
    store: ProcessStore, clock: FakeClock
) -> None:
    four_orders(store, clock)
    operations = Operations(definition(order()), store)
    indexed = operations.describe("lost")
    forget_index(store)

    described = operations.describe("lost")

    assert described.indexed is False
    assert described.last_failure == indexed.last_failure
    assert (described.status, described.end_reason) == (indexed.status, indexed.end_reason)


def test_describe_an_unknown_key(store: ProcessStore) -> None:
    operations = Operations(definition(order()), store)
    ProcessManager(definition(order()), store, OrderTasks()).handle(
        order().Placed(order_id="o1", items=[])
    )

    with pytest.raises(UnknownInstance, match=r"no RtOrder instance with key 'o2'"):
        operations.describe("o2")


def test_operator_actions_reach_the_index_as_any_event_and_reindex_agrees(
    store: ProcessStore, clock: FakeClock
) -> None:
    four_orders(store, clock)
    operations = Operations(definition(order()), store)
    who = {"by": "ops", "reason": "test"}

    operations.move("waiting", "Deadline", None, "Expired", **who)  # a final state: it fails
    clock.advance(minutes=1)
    Worker(definition(order()), store, ShipFailsFor()).drain()

    waiting = store.instance("RtOrder", "waiting")
    assert waiting is not None
    assert (waiting.status, waiting.states["Deadline"], waiting.version) == (
        InstanceStatus.FAILED,
        {"Deadline": "Expired"},
        store.version("RtOrder", "waiting"),
    )
    assert operations.reindex().corrected == 0
