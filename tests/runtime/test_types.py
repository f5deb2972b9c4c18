"""What the runtime's types promise holds at run time (issue #8, items 6 and 7).

Keys in their declared types, delivery ids as text or UUIDs, lifecycle
events whose states come back in their own machine's enum, reading the state
of a machine, and end reasons that name a single instance once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore
from tests.runtime.support import compiled, definition, of_type, order, seed

# Two machines sharing the state names `Deploying` and `Live`, an `int` key,
# and a `fail when` on a single-instance machine.
DEPLOY = """
process RtTyDeploy {
    key deploy_id
    event Go { deploy_id: int }
    event Done { deploy_id: int }
    event Broke { deploy_id: int }
    machine Canary {
        states Deploying, Live, Broken
        initial Deploying
        final Live, Broken
        transition live: Deploying -> Live on Done
        transition broke: Deploying -> Broken on Broke
    }
    machine Fleet {
        states Waiting, Deploying, Live
        initial Waiting
        final Live
        transition go: Waiting -> Deploying on Go
        transition live: Deploying -> Live on Done
    }
    fail when any Canary in Broken
}
"""

# A `UUID` key.
BY_UUID = """
process RtTyByUuid {
    key job_id
    event Queued { job_id: UUID }
    machine Job {
        states New, Queued
        initial New
        final Queued
        transition queue: New -> Queued on Queued
    }
}
"""

JOB = uuid.UUID("7d6c35a4-34a8-4a4e-9df4-2a1f0a6b2c11")

# An `int` key and a sync task, run by whoever has the handlers.
INT_SYNC = """
process RtTyIntSync {
    key n
    event Go { n: int }
    event Stop { n: int }
    task Ping sync { n: int }
    machine M {
        states Idle, Pinging, Pinged, Stopped
        initial Idle
        final Stopped
        transition go: Idle -> Pinging on Go run Ping(n = key)
        transition pinged: Pinging -> Pinged on Ping completed
        transition ping_failed: Pinging -> Stopped on Ping failed
        transition stop: Pinged -> Stopped on Stop
    }
    start on Go
}
"""


def deploy() -> ModuleType:
    return compiled(DEPLOY)


def by_uuid() -> ModuleType:
    return compiled(BY_UUID)


def int_sync() -> ModuleType:
    return compiled(INT_SYNC)


# ---- lifecycle events: states in their own machine's enum ------------------------------


def test_states_of_a_transition_come_back_in_their_own_machines_enum(
    store: ProcessStore,
) -> None:
    m = deploy()
    manager = ProcessManager(definition(m), store)

    decided = manager.handle(m.Go(deploy_id=1)).decisions
    manager.handle(m.Done(deploy_id=1))
    planned = of_type(manager.history(1), "TransitionPlanned")

    # As decided, and as read back from the store.
    assert type(decided[0].to_state) is m.FleetState
    assert [(p.machine, type(p.from_state), type(p.to_state)) for p in planned] == [
        ("Fleet", m.FleetState, m.FleetState),  # go: Waiting -> Deploying
        ("Canary", m.CanaryState, m.CanaryState),  # live: Deploying -> Live
        ("Fleet", m.FleetState, m.FleetState),  # live: Deploying -> Live
    ]
    assert (planned[2].from_state, planned[2].to_state) == (
        m.FleetState.Deploying,
        m.FleetState.Live,
    )


def test_a_state_its_machine_does_not_have_is_refused() -> None:
    m = deploy()
    planned = dict(
        machine="Fleet",
        machine_id="Fleet",
        transition="go",
        from_state="Waiting",
        to_state="Broken",  # a Canary state
        caused_by=uuid.UUID(int=1),
    )

    with pytest.raises(ValueError, match="to_state"):
        m.TransitionPlanned(**planned)


# ---- delivery ids as text ----------------------------------------------------------------


def test_a_text_event_id_is_stored_under_the_same_id_every_time(
    store: ProcessStore,
) -> None:
    m = deploy()
    first = ProcessManager(definition(m), store).handle(m.Go(deploy_id=1), event_id="msg-1")
    # Another manager (no shared cache), as after a restart.
    again = ProcessManager(definition(m), store).handle(m.Go(deploy_id=1), event_id="msg-1")

    assert (first.status, again.status) == (HandleStatus.RECORDED, HandleStatus.DEDUPLICATED)
    assert first.event_id == again.event_id
    # uuid5 of (category, key, the text) in the runtime's namespace: pinned,
    # since a redelivery after an upgrade must find the id already stored.
    assert first.event_id == uuid.UUID("c611c795-d007-5259-bdba-82c59e041566")
    stored = ProcessManager(definition(m), store).history(1)[0]
    assert stored.event_id == first.event_id


def test_a_uuid_and_its_canonical_text_are_one_delivery(store: ProcessStore) -> None:
    m = deploy()
    manager = ProcessManager(definition(m), store)
    delivery = uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100")

    first = manager.handle(m.Go(deploy_id=1), event_id=delivery)
    again = manager.handle(m.Go(deploy_id=1), event_id=str(delivery))

    assert again.status is HandleStatus.DEDUPLICATED
    assert again.event_id == first.event_id


@pytest.mark.parametrize("event_id", ["", 7, b"msg-1"])
def test_an_event_id_that_is_neither_text_nor_a_uuid_is_refused(
    store: ProcessStore, event_id: object
) -> None:
    m = deploy()
    manager = ProcessManager(definition(m), store)

    with pytest.raises((TypeError, ValueError), match="event_id"):
        manager.handle(m.Go(deploy_id=1), event_id=event_id)  # type: ignore[arg-type]
    assert manager.history(1) == []


# ---- keys in their declared types ---------------------------------------------------------


def test_an_int_key_is_accepted_where_a_key_is(store: ProcessStore) -> None:
    m = deploy()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Go(deploy_id=1))

    assert manager.state(1) == manager.state("1")
    assert manager.state(1).key == 1
    assert manager.replay(1) == manager.state(1)
    assert [s.event_id for s in manager.history(1)] == [s.event_id for s in manager.history("1")]
    assert len(manager.history(1)) == 2


def test_a_uuid_key_is_accepted_where_a_key_is(store: ProcessStore) -> None:
    m = by_uuid()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Queued(job_id=JOB))

    assert manager.state(JOB).of("Job") == "Queued"
    assert manager.replay(JOB) == manager.state(str(JOB))
    assert len(manager.history(JOB)) == 3  # Queued, TransitionPlanned, ProcessCompleted


@pytest.mark.parametrize("key", [True, 1.0, None, b"1"])
def test_a_key_of_no_key_type_is_refused(store: ProcessStore, key: object) -> None:
    manager = ProcessManager(definition(deploy()), store)

    # `True` and `1.0` would silently name the streams "True" and "1.0".
    for read in (manager.state, manager.history, manager.replay):
        with pytest.raises(TypeError, match="key"):
            read(key)  # type: ignore[arg-type]


class Pings:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def ping(self, task: Any, ctx: TaskContext) -> None:
        self.keys.append(ctx.key)


# What `handle` makes of an event's key field, every entry point makes of a key.
@pytest.mark.parametrize("text", ["01", " 1", "+1", "1 "])
def test_the_text_of_an_int_key_names_its_canonical_stream(store: ProcessStore, text: str) -> None:
    m = int_sync()
    manager = ProcessManager(definition(m), store)  # no handlers: Ping is left planned
    manager.handle(m.Go(n=text))  # the event's key field takes the text as an int

    assert manager.state(text) == manager.state(1)
    assert manager.state(text).version == len(manager.history(1)) == 2  # Go, TransitionPlanned
    assert manager.replay(text) == manager.state(1)
    assert [s.event_id for s in manager.history(text)] == [s.event_id for s in manager.history(1)]
    assert manager.stored_event_id(text, "m-1") == manager.stored_event_id(1, "m-1")

    tasks = Pings()
    runner = ProcessManager(definition(m), store, tasks)
    [run] = runner.run_sync_tasks(text)
    assert (run.key, run.outcome, tasks.keys) == ("1", "completed", ["1"])

    stopped = manager.record(text, m.Stop(n=1), uuid.uuid4())
    assert (stopped.status, stopped.key) == (HandleStatus.RECORDED, "1")
    assert manager.state(1).end is End.COMPLETED
    assert store.stream_keys("RtTyIntSync") == ["1"]


def test_run_attempt_takes_an_int_key(store: ProcessStore) -> None:
    m = int_sync()
    ProcessManager(definition(m), store).handle(m.Go(n=1))  # no handlers: Ping is left planned
    tasks = Pings()
    runner = ProcessManager(definition(m), store, tasks)
    (task,) = runner.state(1).tasks.values()

    run = runner.run_attempt(1, task, "w1", timedelta(minutes=1))

    assert run is not None
    assert (run.key, run.outcome, tasks.keys) == ("1", "completed", ["1"])


@pytest.mark.parametrize(
    "text",
    [
        str(JOB).upper(),
        JOB.hex,
        "{" + str(JOB) + "}",
        f"urn:uuid:{JOB}",
    ],
    ids=["upper", "hex", "braces", "urn"],
)
def test_the_text_of_a_uuid_key_names_its_canonical_stream(store: ProcessStore, text: str) -> None:
    m = by_uuid()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Queued(job_id=JOB))

    assert manager.state(text) == manager.state(JOB)
    assert manager.state(text).version == 3
    assert manager.replay(text) == manager.state(JOB)
    assert len(manager.history(text)) == 3
    assert manager.stored_event_id(text, "m-1") == manager.stored_event_id(JOB, "m-1")
    assert manager.record(text, m.Queued(job_id=JOB), uuid.uuid4()).key == str(JOB)
    assert store.stream_keys("RtTyByUuid") == [str(JOB)]


@pytest.mark.parametrize(
    ("make", "key", "error", "match"),
    [
        (int_sync, "one", ValueError, r"key 'one' is not the text of an int .*RtTyIntSync"),
        (int_sync, "1.5", ValueError, "key '1.5' is not the text of an int"),
        (int_sync, "", ValueError, "key '' is not the text of an int"),
        (int_sync, JOB, TypeError, "key of RtTyIntSync .* is an int, not UUID"),
        (by_uuid, "7d6c35a4", ValueError, "key '7d6c35a4' is not the text of a UUID"),
        (by_uuid, 1, TypeError, "key of RtTyByUuid .* is a UUID, not int"),
    ],
    ids=["word", "fraction", "empty", "uuid_for_int", "short_uuid", "int_for_uuid"],
)
def test_a_key_its_declared_type_cannot_take_is_refused(
    store: ProcessStore,
    make: Callable[[], ModuleType],
    key: object,
    error: type[Exception],
    match: str,
) -> None:
    m = make()
    manager = ProcessManager(definition(m), store, Pings())
    start = m.Go(n=1) if make is int_sync else m.Queued(job_id=JOB)

    reads: list[Callable[[Any], object]] = [
        manager.state,
        manager.history,
        manager.replay,
        manager.run_sync_tasks,
        lambda k: manager.stored_event_id(k, "m-1"),
        lambda k: manager.record(k, start, uuid.uuid4()),
    ]
    for read in reads:
        with pytest.raises(error, match=match):
            read(key)
    assert store.stream_keys(definition(m).category) == []


# ---- reading the state of a machine ---------------------------------------------------------


def test_of_gives_the_state_of_a_single_instance_machine(store: ProcessStore) -> None:
    m = deploy()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Go(deploy_id=1))
    state = manager.state(1)

    assert state.of("Fleet") == m.FleetState.Deploying
    assert state.of("Canary") == "Deploying"
    assert dict(state.instances_of("Fleet")) == {"Fleet": "Deploying"}


def test_instances_of_gives_the_states_of_a_many_instance_machine(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    state = manager.state("r1")

    assert dict(state.instances_of("Instance")) == {"A": "Closing", "B": "Closing"}
    # A many-instance machine has no one state: say so instead of comparing False.
    with pytest.raises(TypeError, match=r"instances_of\('Instance'\)"):
        state.of("Instance")


def test_a_machine_the_process_does_not_have_is_an_error(store: ProcessStore) -> None:
    state = ProcessManager(definition(deploy()), store).state(1)

    for read in (state.of, state.instances_of):
        with pytest.raises(KeyError, match="Trip"):
            read("Trip")


def test_a_new_many_instance_machine_has_no_instances(store: ProcessStore) -> None:
    state = ProcessManager(definition(seed()), store).state("nothing yet")

    assert dict(state.instances_of("Instance")) == {}


# ---- end reasons -------------------------------------------------------------------------------


def test_an_end_reason_names_a_single_instance_machine_once(store: ProcessStore) -> None:
    m = deploy()
    manager = ProcessManager(definition(m), store)
    manager.handle(m.Broke(deploy_id=1))

    state = manager.state(1)
    assert (state.end, state.end_reason) == (End.FAILED, "Canary is in Broken")


# ---- what a handler returns ------------------------------------------------------------------


class _ReturnsNothing:
    """Handlers of RtOrder whose `reserve` returns None though `Reserve` returns something."""

    def reserve(self, task: object, ctx: object) -> None:
        return None

    def ship(self, task: object, ctx: object) -> None:
        return None


def test_none_from_a_task_that_returns_fails_the_attempt(store: ProcessStore) -> None:
    # Why the protocol types such a handler `-> ReserveResult`, not `| None`.
    m = order()
    manager = ProcessManager(definition(m), store, _ReturnsNothing())

    result = manager.handle(m.Placed(order_id="o1", items=["book"]))

    (run,) = result.sync_runs
    assert run.outcome == "failed"
    assert run.reason is not None and run.reason.startswith("invalid result: ")
