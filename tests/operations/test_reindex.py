"""``Operations.reindex``: the index folded from the streams alone equals the live one.

Random runs of RtOrder (orders placed, withdrawn, nudged; workers draining
with shipping failing for some; time passing) are recorded live, then the
index is rebuilt from the streams: nothing to correct, and once forgotten,
every row comes back exactly as the appends wrote it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from pmc.runtime import operations as operations_module
from pmc.runtime.instances import InstanceStatus, InstanceUpdate
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operations import Operations, ReindexReport
from pmc.runtime.stores import ProcessStore, open_store
from pmc.runtime.worker import Worker
from tests.operations.index_support import all_rows, comparable, forget_index, indexed_states
from tests.operations.test_index import ShipFailsFor, four_orders
from tests.runtime.support import (
    T0,
    FakeClock,
    OrderTasks,
    RebaseTasks,
    definition,
    order,
    path_of,
    seed,
    tally,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]

KEYS = ["a", "b", "c'", "d%"]

Step = tuple[str, str]
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["place", "withdraw", "nudge"]), st.sampled_from(KEYS)),
        st.tuples(st.just("drain"), st.just("")),
        st.tuples(st.just("wait"), st.sampled_from(["1", "30", "4000"])),
    ),
    max_size=12,
)


def run(store: ProcessStore, clock: FakeClock, script: list[Step]) -> None:
    m = order()
    tasks = ShipFailsFor("b", "d%")
    manager = ProcessManager(definition(m), store, tasks)
    worker = Worker(definition(m), store, tasks)
    for action, arg in script:
        if action == "place":
            manager.handle(m.Placed(order_id=arg, items=["x"]))
        elif action == "withdraw":
            manager.handle(m.Withdrawn(order_id=arg))
        elif action == "nudge":
            manager.handle(m.Nudged(order_id=arg))
        elif action == "drain":
            worker.drain()
        else:
            clock.advance(seconds=int(arg))


@contextmanager
def fresh_store(kind: str, directory: Path, clock: FakeClock) -> Iterator[ProcessStore]:
    url = "memory://" if kind == "memory" else f"sqlite:///{directory / uuid.uuid4().hex}.db"
    store = open_store(url, clock=clock)
    try:
        yield store
    finally:
        store.close()


rebase_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("fail"),
            st.sampled_from(KEYS),
            st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, unique=True),
        ),
        st.tuples(st.just("drain"), st.just(""), st.just([])),
        st.tuples(st.just("wait"), st.sampled_from(["1", "30", "4000"]), st.just([])),
    ),
    max_size=10,
)
RebaseStep = tuple[str, str, list[str]]


def run_rebases(store: ProcessStore, clock: FakeClock, script: list[RebaseStep]) -> None:
    """RtRebase: closing B always fails, C fails its first two attempts."""
    m = seed()
    tasks = RebaseTasks(script=fail_b_and_c_twice)
    manager = ProcessManager(definition(m), store, tasks)
    worker = Worker(definition(m), store, tasks)
    for action, arg, instances in script:
        if action == "fail":
            manager.handle(m.RebaseFailed(rebase_id=arg, instances=instances))
        elif action == "drain":
            worker.drain()
        else:
            clock.advance(seconds=int(arg))


def fail_b_and_c_twice(machine_id: str, attempt: int) -> None:
    if machine_id == "B" or (machine_id == "C" and attempt <= 2):
        raise RuntimeError(f"cannot close {machine_id}")


def assert_rebuilt_equals_live(store: ProcessStore, definition_: Any, category: str) -> None:
    live = [comparable(row) for row in all_rows(store, category)]
    streams = len(store.stream_keys(category))
    operations = Operations(definition_, store)

    assert operations.reindex() == ReindexReport(streams=streams, created=0, corrected=0)
    assert [comparable(row) for row in all_rows(store, category)] == live

    forget_index(store)
    assert all_rows(store, category) == []
    assert operations.reindex() == ReindexReport(streams, created=streams, corrected=0)
    assert [comparable(row) for row in all_rows(store, category)] == live


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@SETTINGS
@given(script=steps)
def test_the_index_rebuilt_from_the_streams_is_the_live_one(
    kind: str, tmp_path: Path, script: list[Step]
) -> None:
    clock = FakeClock()
    with fresh_store(kind, tmp_path, clock) as store:
        run(store, clock, script)
        assert_rebuilt_equals_live(store, definition(order()), "RtOrder")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@SETTINGS
@given(script=rebase_steps)
def test_the_index_of_many_instance_machines_rebuilt_is_the_live_one(
    kind: str, tmp_path: Path, script: list[RebaseStep]
) -> None:
    clock = FakeClock()
    with fresh_store(kind, tmp_path, clock) as store:
        run_rebases(store, clock, script)
        assert_rebuilt_equals_live(store, definition(seed()), "RtRebase")


def test_reindex_corrects_a_wrong_row_and_is_idempotent(
    store: ProcessStore, clock: FakeClock
) -> None:
    four_orders(store, clock)
    operations = Operations(definition(order()), store)
    live = [comparable(row) for row in all_rows(store, "RtOrder")]
    forget_index(store)
    # A live append to a stream without a row leaves it without one: no half-known rows.
    Worker(definition(order()), store, ShipFailsFor()).drain()  # waiting: Order -> Shipped
    assert store.instance("RtOrder", "waiting") is None
    assert indexed_states(store) == 0

    assert operations.reindex() == ReindexReport(streams=4, created=4, corrected=0)
    waiting = store.instance("RtOrder", "waiting")
    assert waiting is not None and waiting.version == store.version("RtOrder", "waiting")
    assert [comparable(row) for row in all_rows(store, "RtOrder") if row.key != "waiting"] == [
        row for row in live if row is not None and row["key"] != "waiting"
    ]
    assert operations.reindex() == ReindexReport(streams=4, created=0, corrected=0)

    version = store.version("RtOrder", "done")
    wrong = InstanceUpdate(
        InstanceStatus.RUNNING, version, T0, (("Order", "Order", "New"),), None, None
    )
    store.append("RtOrder", "done", [], version, instance=wrong)
    assert operations.reindex() == ReindexReport(streams=4, created=0, corrected=1)
    assert comparable(store.instance("RtOrder", "done")) == live[0]


def test_reindex_racing_a_live_writer_corrects_nothing(
    store: ProcessStore, clock: FakeClock
) -> None:
    m = order()
    ProcessManager(definition(m), store, OrderTasks()).handle(
        m.Placed(order_id="o1", items=["book"])
    )
    clock.advance(seconds=5)
    load = store.load
    raced: list[str] = []

    def load_after_a_worker(category: str, key: str, after_version: int = 0) -> Any:
        # A worker records Ship's outcome, and its right row, as reindex starts on o1.
        if not raced:
            raced.append(key)
            Worker(definition(m), store, OrderTasks()).drain()
        return load(category, key, after_version)

    store.load = load_after_a_worker  # type: ignore[method-assign]
    report = Operations(definition(m), store).reindex()

    assert raced == ["o1"]
    # docs/operations.md: a correction "should never happen" unless something other
    # than pmc wrote the index; a row a racing worker wrote is right.
    assert report == ReindexReport(streams=1, created=0, corrected=0)
    row = store.instance("RtOrder", "o1")
    assert row is not None and row.states["Order"] == {"Order": "Shipped"}


def test_reindex_skips_a_stream_writers_keep_moving_and_reports_it(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = tally()
    manager = ProcessManager(definition(m), store)
    for key in ("calm", "busy"):
        manager.handle(m.Tick(tally_id=key, n=1))
    forget_index(store)
    monkeypatch.setattr(operations_module, "MAX_REINDEX_TRIES", 3)
    load = store.load
    moves: list[int] = []

    def load_then_move(category: str, key: str, after_version: int = 0) -> Any:
        loaded = load(category, key, after_version)
        if key == "busy":  # a writer records an event after each read of ``busy``
            moves.append(len(loaded))
            manager.handle(m.Tick(tally_id="busy", n=len(moves) + 1))
        return loaded

    store.load = load_then_move  # type: ignore[method-assign]
    report = Operations(definition(m), store).reindex()

    assert report == ReindexReport(streams=2, created=1, corrected=0, skipped=("busy",))
    assert len(moves) == 3 and moves == sorted(set(moves))  # three reads, each one behind
    assert store.instance("RtTally", "calm") is not None
    assert store.instance("RtTally", "busy") is None  # left as it was: unindexed


def test_a_store_written_before_the_index_gets_its_tables_and_then_its_rows(
    store_url: str, clock: FakeClock
) -> None:
    if store_url == "memory://":
        pytest.skip("a memory store lives in one object: nothing was written before")
    store = open_store(store_url, clock=clock)
    four_orders(store, clock)
    live = [comparable(row) for row in all_rows(store, "RtOrder")]
    store.close()
    engine = create_engine(store_url)
    with engine.begin() as connection:  # as pmc 0.5 left it: no index tables
        connection.execute(text("DROP TABLE pmc_instance_states"))
        connection.execute(text("DROP TABLE pmc_instances"))
    engine.dispose()

    reopened = open_store(store_url, clock=clock)
    try:
        operations = Operations(definition(order()), reopened)
        assert operations.instances().items == ()  # the tables are back, empty
        assert operations.has_streams()
        assert operations.reindex() == ReindexReport(streams=4, created=4, corrected=0)
        assert [comparable(row) for row in all_rows(reopened, "RtOrder")] == live
    finally:
        reopened.close()


def test_the_index_stays_exact_under_racing_writers_and_a_killed_one(store_url: str) -> None:
    if store_url == "memory://":
        pytest.skip("memory:// lives in one process")
    shared_url = store_url
    m = tally()
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.runtime.child",
                "tick",
                path_of(m),
                shared_url,
                key,
                w,
                "60",
            ],
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        for key, w in [("busy", "w1"), ("busy", "w2"), ("calm", "w3"), ("busy", "doomed")]
    ]
    doomed = writers[-1]
    store = open_store(shared_url)
    wait_until(lambda: store.version("RtTally", "busy") >= 20, timeout=60)
    doomed.send_signal(signal.SIGKILL)  # mid-append, or between two
    doomed.wait()
    assert all(writer.wait(120) == 0 for writer in writers[:-1])

    try:
        live = [comparable(row) for row in all_rows(store, "RtTally")]
        operations = Operations(definition(m), store)
        assert operations.reindex() == ReindexReport(streams=2, created=0, corrected=0)
        assert [comparable(row) for row in all_rows(store, "RtTally")] == live
        busy = store.instance("RtTally", "busy")
        assert busy is not None and busy.version == store.version("RtTally", "busy")
    finally:
        store.close()
