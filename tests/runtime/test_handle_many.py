"""Recording a batch: ``Recorder.append_many`` and ``ProcessManager.handle_many``.

A batch answers, request by request, what recording its requests one at a
time would, and leaves the same streams; it only writes them together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from event_sourcery import Event
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from pmc.runtime import DecisionError, HandleManyError, attempts, contract
from pmc.runtime.manager import HandleResult, HandleStatus, ProcessManager
from pmc.runtime.preconditions import startable
from pmc.runtime.recorder import Recorder, RecordRequest
from pmc.runtime.state import ProcessState, TaskInFlight
from pmc.runtime.stores import (
    AppendOutcome,
    AppendRequest,
    ProcessStore,
    VersionConflict,
    open_store,
)
from tests.conftest import OpenStore
from tests.engine import ed2_dunning
from tests.fake_clock import T0, FakeClock
from tests.runtime.counting import counting
from tests.runtime.support import OrderTasks, definition, names, order, seed, tally
from tests.runtime.test_second_edition import _SOON, Edited

KEYS = ("a", "b", "c")
DELIVERIES = tuple(f"d{n}" for n in range(4))  # few, so that some repeat
ROUNDS = 3


def recorder(store: ProcessStore) -> Recorder:
    return Recorder(definition(order()), store, timedelta(seconds=5), max_conflicts=3)


def input_request(kind: str, key: str, delivery: str) -> RecordRequest:
    m = order()
    events = {
        "Placed": m.Placed(order_id=key, items=["x"]),
        "Withdrawn": m.Withdrawn(order_id=key),
        "Nudged": m.Nudged(order_id=key),
    }
    return RecordRequest(key, events[kind], uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{delivery}"))


def every_third_version(state: ProcessState) -> bool:
    return state.version % 3 != 0


inputs = st.builds(
    input_request,
    st.sampled_from(["Placed", "Withdrawn", "Nudged"]),
    st.sampled_from(KEYS),
    st.sampled_from(DELIVERIES),
)
# Some requests carry a precondition: STALE where it fails.
guarded_inputs = st.builds(
    lambda request, guarded: (
        RecordRequest(request.key, request.event, request.event_id, every_third_version)
        if guarded
        else request
    ),
    inputs,
    st.booleans(),
)

# A report on a task in flight: its start, or an outcome (under its own id or another).
Report = Callable[[str, TaskInFlight], RecordRequest]


def started(key: str, task: TaskInFlight) -> RecordRequest:
    d = definition(order())
    now = FakeClock()()
    event = attempts.started_event(d, task, "w1", now + timedelta(minutes=1))
    return RecordRequest(
        key, event, contract.started_id(task.task_id, task.attempt), startable(task, now)
    )


def completed(key: str, task: TaskInFlight) -> RecordRequest:
    d = definition(order())
    result = d.task_result(task.task, {"reservation": "r"} if task.task == "Reserve" else None)
    event = attempts.completed_event(d, task, result)
    return RecordRequest(key, event, contract.outcome_id(task.task_id, task.attempt))


def failed_elsewhere(key: str, task: TaskInFlight) -> RecordRequest:
    """An outcome under an id of its own: a second outcome of an attempt is a duplicate."""
    event = attempts.failed_event(definition(order()), task, "refused")
    return RecordRequest(key, event, uuid.uuid5(task.task_id, f"failed {task.attempt}"))


def reports_on(states: dict[str, ProcessState], draw: st.DrawFn) -> list[RecordRequest]:
    tasks = sorted(
        ((key, task) for key, state in states.items() for task in state.tasks.values()),
        key=lambda pair: (pair[0], str(pair[1].task_id)),
    )
    if not tasks:
        return []
    chosen = draw(
        st.lists(
            st.tuples(
                st.sampled_from(tasks), st.sampled_from([started, completed, failed_elsewhere])
            ),
            max_size=6,
        )
    )
    return [report(key, task) for (key, task), report in chosen]


def pending_work(store: ProcessStore) -> list[tuple[object, ...]]:
    """The work index: every row claimed as if far in the future, then released again."""
    claimed = store.claim_due(T0 + timedelta(days=3650), "check", 10_000, 1.0, "RtOrder")
    for item in claimed:
        store.release(item)
    return [(item.key, item.work_id, item.kind, item.due_at, item.payload) for item in claimed]


def one_by_one(one: Recorder, requests: Sequence[RecordRequest]) -> list[HandleResult]:
    return [one.append(r.key, r.event, r.event_id, r.precondition) for r in requests]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_batch_answers_and_records_what_one_request_at_a_time_would(data: st.DataObject) -> None:
    sequential = open_store("memory://", clock=FakeClock())
    batched = open_store("memory://", clock=FakeClock())
    one, batcher = recorder(sequential), recorder(batched)
    # Each round, a batch of deliveries and reports on the tasks the rounds before planned.
    for _ in range(ROUNDS):
        states = {key: batcher.cache.current(key).state for key in KEYS}
        requests = data.draw(st.lists(guarded_inputs, max_size=8)) + reports_on(states, data.draw)
        requests = data.draw(st.permutations(requests))

        expected = one_by_one(one, requests)
        got = batcher.append_many(requests)

        assert got == expected
        for key in KEYS:
            assert batched.load("RtOrder", key) == sequential.load("RtOrder", key)
        assert pending_work(batched) == pending_work(sequential)


def test_a_batch_covers_every_status() -> None:
    """The statuses the property above compares, each met at least once here."""
    store = open_store("memory://", clock=FakeClock())
    batch = recorder(store)
    placed = batch.append_many([input_request("Placed", "a", "d0")])[0]
    reserve = next(iter(placed.state.tasks.values()))

    results = batch.append_many(
        [
            input_request("Nudged", "b", "d0"),  # b has no instance
            input_request("Placed", "a", "d0"),  # delivered twice
            input_request("Placed", "a", "d1"),  # no transition takes it
            RecordRequest(
                "a", input_request("Nudged", "a", "d2").event, uuid.uuid4(), lambda _: False
            ),
            started("a", reserve),
            input_request("Withdrawn", "a", "d3"),  # ends the process
            completed("a", reserve),  # the attempt ran: recorded, too late to matter
            input_request("Nudged", "a", "d4"),
        ]
    )

    assert [r.status for r in results] == [
        HandleStatus.NOT_STARTED,
        HandleStatus.DEDUPLICATED,
        HandleStatus.IGNORED,
        HandleStatus.STALE,
        HandleStatus.RECORDED,
        HandleStatus.RECORDED,
        HandleStatus.LATE,
        HandleStatus.AFTER_END,
    ]


def test_a_refusal_on_a_stale_cache_is_checked_on_the_stream(open_same_store: OpenStore) -> None:
    store, calls = counting(open_same_store())
    batch = recorder(store)
    other = recorder(open_same_store())
    batch.append_many([input_request("Placed", "a", "d0")])
    moved = input_request("Nudged", "a", "d1")
    other.append(moved.key, moved.event, moved.event_id)
    calls.take()
    nudged = input_request("Nudged", "a", "d2")

    # True on the stream, false on the fold cached before the other writer's Nudged.
    def after_the_other(state: ProcessState) -> bool:
        return state.version > 3

    results = batch.append_many(
        [RecordRequest("a", nudged.event, nudged.event_id, after_the_other)]
    )

    assert [r.status for r in results] == [HandleStatus.RECORDED]
    assert calls.take() == {"load": 1, "append_many": 1}


def test_an_id_given_to_two_streams_in_one_batch_is_recorded_in_the_first(
    open_same_store: OpenStore,
) -> None:
    store = open_same_store()
    shared = uuid.uuid4()
    first, second = (
        RecordRequest(key, input_request("Placed", key, "d0").event, shared) for key in ("a", "b")
    )

    results = recorder(store).append_many([first, second])

    # Stores keep event ids unique across streams: as ``append`` finds, one by one.
    assert [r.status for r in results] == [HandleStatus.RECORDED, HandleStatus.DEDUPLICATED]
    assert store.load("RtOrder", "b") == []
    assert store.load("RtOrder", "a")[0].event_id == shared


# ---- ProcessManager.handle_many -------------------------------------------------------


def test_handle_many_records_a_batch_in_one_append_many(open_same_store: OpenStore) -> None:
    m = tally()
    store, calls = counting(open_same_store())
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Tick(tally_id="t1", n=0))
    calls.take()

    results = manager.handle_many(
        [
            (m.Tick(tally_id="t1", n=1), "one"),
            (m.Tick(tally_id="t2", n=1), "one"),  # another stream: the same id is another delivery
            (m.Tick(tally_id="t1", n=1), "one"),  # delivered twice in one batch
            m.Close(tally_id="t1"),
            m.Tick(tally_id="t1", n=2),
        ]
    )

    assert [(r.key, r.status) for r in results] == [
        ("t1", HandleStatus.RECORDED),
        ("t2", HandleStatus.RECORDED),
        ("t1", HandleStatus.DEDUPLICATED),
        ("t1", HandleStatus.RECORDED),
        ("t1", HandleStatus.AFTER_END),
    ]
    assert calls.take() == {"load": 1, "append_many": 1}  # t2 was never seen
    assert names(manager.history("t1")) == ["Tick", "TransitionPlanned"] * 2 + [
        "Close",
        "TransitionPlanned",
        "ProcessCompleted",
    ]
    assert [r.version for r in results] == [4, 2, 4, 7, 7]


def test_handle_many_decides_again_on_streams_another_writer_moved(
    open_same_store: OpenStore,
) -> None:
    m = tally()
    manager = ProcessManager(definition(m), open_same_store())
    other = ProcessManager(definition(m), open_same_store())
    manager.handle_many([m.Tick(tally_id="t1", n=0), m.Tick(tally_id="t2", n=0)])
    other.handle(m.Tick(tally_id="t1", n=1), "by other")

    results = manager.handle_many(
        [(m.Tick(tally_id="t1", n=1), "by other"), m.Tick(tally_id="t2", n=1)]
    )

    assert [r.status for r in results] == [HandleStatus.DEDUPLICATED, HandleStatus.RECORDED]
    assert results[0].state == other.state("t1")
    assert len(manager.history("t1")) == 4


def test_handle_many_runs_the_sync_tasks_of_each_stream_once_recorded(
    open_same_store: OpenStore,
) -> None:
    m = order()
    tasks = OrderTasks()
    manager = ProcessManager(definition(m), open_same_store(), tasks, with_worker=True)

    results = manager.handle_many(
        [
            m.Placed(order_id="o1", items=["x"]),
            m.Placed(order_id="o2", items=["y"]),
            m.Nudged(order_id="o1"),
            m.Nudged(order_id="o3"),  # no instance: nothing to run
        ]
    )

    assert [r.status for r in results] == [
        HandleStatus.RECORDED,
        HandleStatus.RECORDED,
        HandleStatus.RECORDED,
        HandleStatus.NOT_STARTED,
    ]
    # Reserve ran once per order, reported with the stream's last result.
    assert [len(r.sync_runs) for r in results] == [0, 1, 1, 0]
    assert sorted(machine for machine, _ in tasks.calls.of("Reserve")) == ["Order", "Order"]
    assert results[2].state == manager.state("o1")
    assert results[2].state.of("Order") == "Shipping"


def handle_each(manager: ProcessManager, deliveries: Sequence[Event]) -> list[HandleResult | None]:
    """``handle`` for each delivery in turn; None where it raised."""
    results: list[HandleResult | None] = []
    for delivery in deliveries:
        try:
            results.append(manager.handle(delivery))
        except DecisionError:
            results.append(None)
    return results


def test_a_delivery_whose_decision_raises_sinks_only_itself(open_same_store: OpenStore) -> None:
    """The others are recorded, its stream's later events decided as if it were
    not there: what ``handle`` one delivery at a time records and answers."""
    opened = [ed2_dunning.Opened(invoice_id=key, retry_at=_SOON) for key in ("i1", "i2")]
    swap = ed2_dunning.Swap(invoice_id="i1")  # its `set` raises
    deliveries = [opened[0], swap, opened[1], swap, ed2_dunning.Hold(invoice_id="i1")]
    batched = ProcessManager(Edited(), open_same_store())
    sequential = ProcessManager(Edited(), open_store("memory://"))
    expected = handle_each(sequential, deliveries)

    with pytest.raises(HandleManyError) as raised:
        batched.handle_many(deliveries)

    error = raised.value
    assert sorted(error.errors) == [1, 3]
    assert all(isinstance(e, DecisionError) for e in error.errors.values())
    assert str(error).startswith("2 of 5 deliveries raised (at 1, 3), the others were handled;")
    assert "delivery 1: DecisionError: EdDunning i1: Billing, transition `swap`" in str(error)
    assert [r and (r.key, r.status, r.version) for r in error.results] == [
        r and (r.key, r.status, r.version) for r in expected
    ]
    assert error.results[4] is not None and error.results[4].status is HandleStatus.RECORDED
    for key in ("i1", "i2"):
        assert names(batched.history(key)) == names(sequential.history(key))


def test_a_delivery_that_is_not_an_input_event_raises_before_anything_is_written() -> None:
    """A programming error: the batch itself is wrong."""
    store = open_store("memory://")
    manager = ProcessManager(Edited(), store)

    with pytest.raises(TypeError, match="Tick is not an input event of EdDunning"):
        manager.handle_many(
            [ed2_dunning.Opened(invoice_id="i1", retry_at=_SOON), tally().Tick(tally_id="t", n=0)]
        )

    assert store.stream_keys("EdDunning") == []


@pytest.mark.usefixtures("few_sqlite_variables")
def test_handle_many_records_a_batch_of_more_ids_than_a_statement_takes(
    open_same_store: OpenStore,
) -> None:
    """500 events of two ids each (the event, the transition it plans)."""
    m = tally()
    manager = ProcessManager(definition(m), open_same_store())

    results = manager.handle_many([m.Tick(tally_id=f"t{n}", n=0) for n in range(500)])

    assert {(r.status, len(r.decisions)) for r in results} == {(HandleStatus.RECORDED, 1)}
    assert len(manager.store.stream_keys(manager.category)) == 500


def test_a_delivery_whose_id_no_store_can_hold_sinks_only_itself() -> None:
    manager = ProcessManager(Edited(), open_store("memory://"))
    lone_surrogate = "m\ud800"

    with pytest.raises(HandleManyError) as raised:
        manager.handle_many(
            [
                (ed2_dunning.Opened(invoice_id="i1", retry_at=_SOON), lone_surrogate),
                (ed2_dunning.Opened(invoice_id="i2", retry_at=_SOON), "m2"),
            ]
        )

    assert list(raised.value.errors) == [0]
    assert isinstance(raised.value.errors[0], ValueError)
    assert raised.value.results[0] is None
    assert manager.store.stream_keys("EdDunning") == ["i2"]


class MovedThenDropped:
    """A store refusing the batch's first stream (another writer moved it), whose
    connection then drops while that stream is recorded again."""

    def __init__(self, inner: ProcessStore) -> None:
        self.inner = inner
        self.tripped = False

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        if len(requests) > 1 and not self.tripped:
            self.tripped = True
            first, rest = requests[0], requests[1:]
            refused = VersionConflict(first.category, first.key, first.expected_version, None)
            return [refused, *self.inner.append_many(rest)]
        return self.inner.append_many(requests)

    def append(self, *args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_store_error_recording_a_moved_stream_again_is_raised_not_filed(
    store: ProcessStore,
) -> None:
    """A dropped connection is no bad delivery: filed in ``HandleManyError``, a good
    message would go to the dead-letter queue. Raised, the batch is handled again."""
    m = seed()
    manager = ProcessManager(definition(m), MovedThenDropped(store))
    deliveries = [(m.RebaseFailed(rebase_id=key, instances=["A"]), f"msg-{key}") for key in "rs"]

    with pytest.raises(OperationalError, match="server closed the connection"):
        manager.handle_many(deliveries)
