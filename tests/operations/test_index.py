"""The instance index: kept in the transaction of the events, and every filter on every store.

Time is a fake clock (the ``clock`` fixture) that the store runs on, so
``created_at``, ``updated_at``, ``next_due`` and "stuck" are exact.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from pmc.runtime import contract
from pmc.runtime.instances import Failure, InstanceQuery, InstanceStatus, InstanceUpdate
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operations import Operations
from pmc.runtime.recorder import RecordRequest
from pmc.runtime.stores import AppendRequest, NewEvent, ProcessStore, SqlStore, VersionConflict
from pmc.runtime.stores import sql as sql_store
from pmc.runtime.worker import Worker
from tests.operations.index_support import all_rows, comparable, first_outcome, forget_index
from tests.runtime.support import (
    T0,
    FakeClock,
    OrderTasks,
    RebaseTasks,
    compiled,
    definition,
    order,
    seed,
    tally,
)
from tests.runtime_store.rows import work_items


class ShipFailsFor(OrderTasks):
    """RtOrder's handlers; shipping fails for good for the orders named."""

    def __init__(self, *failing: str) -> None:
        super().__init__()
        self.failing = set(failing)

    def ship(self, task: Any, ctx: Any) -> None:
        super().ship(task, ctx)
        if task.order_id in self.failing:
            raise RuntimeError(f"no carrier for {task.order_id}")


def four_orders(store: ProcessStore, clock: FakeClock) -> None:
    """``done`` completed, ``lost`` failed, ``gone`` cancelled, ``waiting`` running
    with its Ship due at T0 + 1 min and no worker to run it."""
    m = order()
    tasks = ShipFailsFor("lost")
    manager = ProcessManager(definition(m), store, tasks)
    worker = Worker(definition(m), store, tasks)
    for key in ("done", "lost"):
        manager.handle(m.Placed(order_id=key, items=["book"]))
    # Ship: an attempt and 2 retries, the last failing at T0 + 20 s.
    for _ in range(5):
        worker.drain()
        clock.advance(seconds=10)
    manager.handle(m.Placed(order_id="gone", items=["pen"]))  # at T0 + 50 s
    manager.handle(m.Withdrawn(order_id="gone"))
    clock.advance(seconds=10)  # T0 + 1 min
    manager.handle(m.Placed(order_id="waiting", items=["ink"]))


def keys(rows: Any) -> list[str]:
    return [row.key for row in rows]


# ---- what a row holds ------------------------------------------------------------------


def test_each_append_writes_its_instance_row(store: ProcessStore, clock: FakeClock) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())

    manager.handle(m.Placed(order_id="o1", items=["book"]))

    row = store.instance("RtOrder", "o1")
    assert row is not None
    assert (row.status, row.version) == (InstanceStatus.RUNNING, store.version("RtOrder", "o1"))
    assert comparable(row) == {
        "category": "RtOrder",
        "key": "o1",
        "status": "running",
        # Reserve (sync) ran inline; Ship (async) waits for a worker.
        "states": {"Deadline": {"Deadline": "Open"}, "Order": {"Order": "Shipping"}},
        "version": 6,
        "created_at": T0.isoformat(),
        "updated_at": T0.isoformat(),
        "next_due": T0.isoformat(),  # Ship's row: due at once
        "last_failure": None,
        "end_reason": None,
    }

    clock.advance(minutes=5)
    Worker(definition(m), store, OrderTasks()).drain()

    done = store.instance("RtOrder", "o1")
    assert done is not None
    assert (done.status, done.states["Order"], done.version) == (
        InstanceStatus.COMPLETED,
        {"Order": "Shipped"},
        store.version("RtOrder", "o1"),
    )
    assert (done.created_at, done.updated_at, done.next_due) == (
        T0,
        T0 + timedelta(minutes=5),
        None,  # nothing pending once ended
    )


def test_the_last_failure_and_the_end_reason_are_kept(
    store: ProcessStore, clock: FakeClock
) -> None:
    four_orders(store, clock)

    lost = store.instance("RtOrder", "lost")
    gone = store.instance("RtOrder", "gone")

    assert lost is not None and gone is not None
    assert lost.status is InstanceStatus.FAILED
    assert lost.last_failure == Failure(
        task="Ship",
        machine="Order",
        machine_id="Order",
        attempt=3,
        reason="no carrier for lost",
        at=T0 + timedelta(seconds=20),
    )
    assert lost.end_reason is not None and "Lost" in lost.end_reason
    assert (gone.status, gone.end_reason) == (InstanceStatus.CANCELLED, "cancelled by Withdrawn")
    assert store.instance("RtOrder", "nobody") is None


def test_next_due_is_read_off_the_work_index_row_or_no_row(
    store: ProcessStore, clock: FakeClock
) -> None:
    """docs/operations.md, `pmc show`: it "folds the instance's stream itself, so it shows
    what replay sees, indexed or not: ... when work is next due"."""
    four_orders(store, clock)
    operations = Operations(definition(order()), store)
    waiting = store.instance("RtOrder", "waiting")
    assert waiting is not None and waiting.next_due == T0 + timedelta(minutes=1)

    forget_index(store)
    described = operations.describe("waiting")

    assert not described.indexed and described.tasks
    assert described.next_due == store.next_due("RtOrder", "waiting") == waiting.next_due
    assert store.next_due("RtOrder", "done") is None  # ended: no pending work
    assert store.next_due("RtOrder", "nobody") is None


def test_a_page_of_rows_has_each_rows_next_due_as_read_alone(
    store: ProcessStore, clock: FakeClock
) -> None:
    four_orders(store, clock)  # waiting: its Ship and its Deadline pending; the rest ended

    listed = store.instances("RtOrder", InstanceQuery())

    assert [(row.key, row.next_due) for row in listed] == [
        (row.key, store.next_due("RtOrder", row.key)) for row in listed
    ]
    assert {row.key: row.next_due for row in listed}["waiting"] == T0 + timedelta(minutes=1)


# Two tasks; A's outcome ends the process, abandoning B.
PAIR = """
process Pair {
    key k
    event Go { k: str }
    event Poke { k: str }
    task A async { k: str }
    task B async { k: str }
    machine M {
        states Idle, Busy, Done
        initial Idle
        final Done
        transition go: Idle -> Busy on Go run A(k = key)
        transition poke: Busy -> Busy on Poke keep A run B(k = key)
        transition done: Busy -> Done on A completed
        transition lost: Busy -> Done on A failed
        transition b_done: Busy -> Busy on B completed keep A
        transition b_failed: Busy -> Busy on B failed keep A
    }
    start on Go
    complete when all M final
}
"""


def test_a_late_failure_batched_after_the_outcome_that_abandoned_it_is_no_failure(
    store: ProcessStore,
) -> None:
    """The worker's group commit records the outcomes of attempts that finished
    together in one append; each is judged on the state it was decided on, as a
    rebuild judges each event."""
    m = compiled(PAIR)
    manager = ProcessManager(m.DEFINITION, store)
    manager.handle(m.Go(k="p1"))
    manager.handle(m.Poke(k="p1"))
    tasks = {t.task: t for t in manager.state("p1").tasks.values()}
    for t in tasks.values():
        started = m.TaskStarted(task_id=t.task_id, attempt=1, worker="w")
        manager.record("p1", started, contract.started_id(t.task_id, 1))
    a, b = tasks["A"], tasks["B"]
    done, failed = first_outcome(m, a), first_outcome(m, b, failed="B broke")
    manager._recorder.append_many(
        [
            RecordRequest("p1", done, contract.outcome_id(a.task_id, 1)),
            RecordRequest("p1", failed, contract.outcome_id(b.task_id, 1)),  # late
        ]
    )

    live = store.instance("Pair", "p1")
    forget_index(store)
    Operations(m.DEFINITION, store).reindex()

    assert live is not None and live.status is InstanceStatus.COMPLETED
    assert live.last_failure is None  # docs/operations.md: a late outcome is no failure
    assert comparable(live) == comparable(store.instance("Pair", "p1"))


# ---- one transaction -------------------------------------------------------------------

FAIL_STATE_WRITES = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON pmc_instance_states"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS"
        " $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON pmc_instance_states"
        " FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


def test_a_failed_write_of_the_row_leaves_no_events_no_work_and_no_row(
    store: ProcessStore,
) -> None:
    if not isinstance(store, SqlStore):
        pytest.skip("the memory store writes nothing that can fail after its checks")
    store.init()
    with store._write_engine.begin() as connection:
        for statement in FAIL_STATE_WRITES[store._dialect]:
            connection.execute(text(statement))
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())

    with pytest.raises(Exception, match="refused"):
        manager.handle(m.Placed(order_id="o1", items=["book"]))

    assert store.load("RtOrder", "o1") == []
    assert work_items(store, "RtOrder", "o1") == []
    assert store.instance("RtOrder", "o1") is None


def test_a_rejected_append_writes_no_row(store: ProcessStore) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())
    manager.handle(m.Placed(order_id="o1", items=["book"]))
    before = comparable(store.instance("RtOrder", "o1"))
    events = store.load("RtOrder", "o1")
    stale = store.instance("RtOrder", "o1")
    assert stale is not None

    cancelled = InstanceUpdate(InstanceStatus.CANCELLED, 99, T0, (), None, "by hand")
    with pytest.raises(VersionConflict):
        store.append("RtOrder", "o1", [], len(events) - 1, instance=cancelled)

    assert comparable(store.instance("RtOrder", "o1")) == before


@pytest.mark.parametrize(
    "read",
    [
        lambda store: store.instances("RtOrder", InstanceQuery(state=("Order", "Shipping")))[0],
        lambda store: store.instance("RtOrder", "o1"),
    ],
    ids=["instances", "instance"],
)
def test_a_row_and_its_states_are_read_in_one_snapshot(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch, read: Any
) -> None:
    """A row, then its states, are two statements: in PostgreSQL's default READ
    COMMITTED a commit in between would give a row whose status and version are of
    one version of the stream and whose states are of another."""
    if not isinstance(store, SqlStore):
        pytest.skip("the memory store reads under its lock")
    m = order()
    ProcessManager(definition(m), store, OrderTasks()).handle(
        m.Placed(order_id="o1", items=["book"])
    )
    placed = store.version("RtOrder", "o1")  # Order=Shipping, running
    read_states = sql_store.read_states

    def a_worker_commits_first(*args: Any) -> Any:
        Worker(definition(m), store, OrderTasks()).drain()  # Order -> Shipped, completed
        return read_states(*args)

    monkeypatch.setattr(sql_store, "read_states", a_worker_commits_first)
    row = read(store)
    monkeypatch.undo()

    assert (row.status, row.version, row.states["Order"]) == (
        InstanceStatus.RUNNING,
        placed,
        {"Order": "Shipping"},
    )
    shipped = store.instance("RtOrder", "o1")
    assert shipped is not None and shipped.states["Order"] == {"Order": "Shipped"}


# ---- filters -----------------------------------------------------------------------------


def test_filters_by_status(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)

    def with_status(status: InstanceStatus) -> list[str]:
        return keys(store.instances("RtOrder", InstanceQuery(status=status)))

    assert keys(all_rows(store, "RtOrder")) == ["done", "gone", "lost", "waiting"]
    assert with_status(InstanceStatus.RUNNING) == ["waiting"]
    assert with_status(InstanceStatus.COMPLETED) == ["done"]
    assert with_status(InstanceStatus.FAILED) == ["lost"]
    assert with_status(InstanceStatus.CANCELLED) == ["gone"]


def test_filters_by_the_state_of_a_machine(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)

    def in_state(machine: str, state: str) -> list[str]:
        return keys(store.instances("RtOrder", InstanceQuery(state=(machine, state))))

    assert in_state("Order", "Shipped") == ["done"]
    assert in_state("Order", "Lost") == ["lost"]
    # A cancelled order stays where it was cancelled: Reserve ran inline.
    assert in_state("Order", "Shipping") == ["gone", "waiting"]
    assert in_state("Order", "Reserving") == []
    assert in_state("Deadline", "Open") == ["done", "gone", "lost", "waiting"]


def test_filters_by_last_update(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)

    def updated_before(seconds: int) -> list[str]:
        query = InstanceQuery(updated_before=T0 + timedelta(seconds=seconds))
        return keys(store.instances("RtOrder", query))

    assert updated_before(0) == []
    assert updated_before(1) == ["done"]  # shipped at once
    assert updated_before(21) == ["done", "lost"]  # its last attempt failed at T0 + 20 s
    assert updated_before(61) == ["done", "gone", "lost", "waiting"]


def test_stuck_means_work_overdue_for_that_long(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)  # waiting's Ship has been due since T0 + 1 min

    def stuck_for(minutes: int) -> list[str]:
        query = InstanceQuery(stuck_for=timedelta(minutes=minutes))
        return keys(store.instances("RtOrder", query))

    clock.advance(minutes=10)  # T0 + 11 min

    assert stuck_for(5) == ["waiting"]
    assert stuck_for(10) == ["waiting"]
    assert stuck_for(11) == []  # ended instances are never stuck


def test_stuck_means_no_work_and_no_update_for_that_long(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = tally()  # no task, no timer: it waits for its next input event
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Tick(tally_id="t1", n=1))
    clock.advance(minutes=10)
    manager.handle(m.Tick(tally_id="t2", n=1))
    clock.advance(minutes=5)

    query = InstanceQuery(stuck_for=timedelta(minutes=15))
    assert keys(store.instances("RtTally", query)) == ["t1"]
    assert keys(store.instances("RtTally", InstanceQuery(stuck_for=timedelta(minutes=5)))) == [
        "t1",
        "t2",
    ]


def test_an_instance_waiting_for_a_timer_due_later_is_not_stuck(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, OrderTasks())
    manager.handle(m.Placed(order_id="o1", items=["book"]))
    Worker(definition(m), store, OrderTasks()).drain()
    manager.handle(m.Placed(order_id="o2", items=["book"]))  # Ship due now
    store_rows = {row.key: row for row in all_rows(store, "RtOrder")}
    assert store_rows["o1"].status is InstanceStatus.COMPLETED
    clock.advance(minutes=30)

    assert keys(store.instances("RtOrder", InstanceQuery(stuck_for=timedelta(minutes=20)))) == [
        "o2"
    ]


def test_filters_combine(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)

    query = InstanceQuery(status=InstanceStatus.RUNNING, state=("Order", "Lost"))
    assert store.instances("RtOrder", query) == []
    query = InstanceQuery(status=InstanceStatus.FAILED, state=("Order", "Lost"))
    assert keys(store.instances("RtOrder", query)) == ["lost"]


def test_other_categories_are_not_listed(store: ProcessStore, clock: FakeClock) -> None:
    four_orders(store, clock)
    ProcessManager(definition(tally()), store).handle(tally().Tick(tally_id="done", n=1))

    assert keys(all_rows(store, "RtTally")) == ["done"]
    assert len(all_rows(store, "RtOrder")) == 4


# ---- paging and odd keys -------------------------------------------------------------------

ODD_KEYS = ["o'1", 'o"2', "50%", "5_0", "%", "_", "ünïcödé", "x y", "Ω", "a\\b", "<b>"]


def test_pages_are_stable_and_ordered_by_code_point(store: ProcessStore) -> None:
    m = tally()
    manager = ProcessManager(definition(m), store)
    for key in ODD_KEYS:
        manager.handle(m.Tick(tally_id=key, n=1))

    pages: list[list[str]] = []
    after = None
    while True:
        rows = store.instances("RtTally", InstanceQuery(limit=4, after=after))
        pages.append(keys(rows))
        if len(rows) < 4:
            break
        after = rows[-1].key
        # Written meanwhile before the cursor: the later pages do not move.
        manager.handle(m.Tick(tally_id=f"!{len(pages)}", n=1))

    assert [key for page in pages for key in page] == sorted(ODD_KEYS)
    assert [len(page) for page in pages] == [4, 4, 3]


def test_odd_keys_are_matched_exactly(store: ProcessStore) -> None:
    m = tally()
    manager = ProcessManager(definition(m), store)
    for key in ["50%", "5_0", "o'1"]:
        manager.handle(m.Tick(tally_id=key, n=1))

    # Neither `%` nor `_` is a wildcard, nor a quote the end of a string.
    assert store.instance("RtTally", "%") is None
    assert store.instance("RtTally", "5%") is None
    assert store.instance("RtTally", "5_") is None
    row = store.instance("RtTally", "o'1")
    assert row is not None and row.key == "o'1"
    assert keys(store.instances("RtTally", InstanceQuery(after="5_0"))) == ["o'1"]
    assert keys(store.instances("RtTally", InstanceQuery(state=("Tally", "x' OR '1'='1")))) == []


def test_a_query_refuses_what_cannot_select_anything() -> None:
    with pytest.raises(ValueError, match="limit"):
        InstanceQuery(limit=0)
    with pytest.raises(ValueError, match="stuck_for"):
        InstanceQuery(stuck_for=timedelta(0))
    with pytest.raises(ValueError, match="timezone"):
        InstanceQuery(updated_before=T0.replace(tzinfo=None))


def test_an_instance_with_hundreds_of_machine_instances(
    store: ProcessStore, few_sqlite_variables: None
) -> None:
    m = seed()  # one Instance machine instance per name in RebaseFailed
    names = [f"i{n:03}" for n in range(700)]
    ProcessManager(definition(m), store, RebaseTasks()).handle(
        m.RebaseFailed(rebase_id="r1", instances=names)
    )
    operations = Operations(definition(m), store)
    live = comparable(store.instance("RtRebase", "r1"))
    forget_index(store)

    assert operations.reindex().created == 1
    row = store.instance("RtRebase", "r1")
    assert row is not None and comparable(row) == live
    assert sorted(row.states["Instance"]) == names


def test_a_group_commit_writes_the_rows_of_the_requests_it_records(store: ProcessStore) -> None:
    m = tally()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Tick(tally_id="t1", n=1))
    version = store.version("RtTally", "t1")
    new_t2 = InstanceUpdate(
        InstanceStatus.RUNNING, 1, T0, (("Tally", "Tally", "Open"),), None, None, T0
    )
    stale_t1 = InstanceUpdate(InstanceStatus.CANCELLED, 99, T0, (), None, "stale")

    outcomes = store.append_many(
        [
            AppendRequest("RtTally", "t1", (), version - 1, instance=stale_t1),
            AppendRequest(
                "RtTally",
                "t2",
                (NewEvent(m.Tick(tally_id="t2", n=2), uuid.uuid4()),),
                0,
                instance=new_t2,
            ),
        ]
    )

    assert isinstance(outcomes[0], VersionConflict) and not isinstance(outcomes[1], Exception)
    t1, t2 = store.instance("RtTally", "t1"), store.instance("RtTally", "t2")
    assert t1 is not None and (t1.status, t1.version) == (InstanceStatus.RUNNING, version)
    assert t2 is not None and (t2.status, t2.version, t2.states) == (
        InstanceStatus.RUNNING,
        1,
        {"Tally": {"Tally": "Open"}},
    )
