"""Delivery ids are per stream; text the stores cannot hold is refused or made safe.

On every store: one delivery id handled by two processes or for two keys is
recorded in each stream, while its redelivery to one stream is not; a NUL
character never leaves a stream unappendable (PostgreSQL's JSONB refuses it).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore, api
from pmc.runtime.worker import Worker
from tests.conftest import OpenStore
from tests.runtime.support import (
    RebaseTasks,
    assert_well_formed,
    definition,
    names,
    of_type,
    order,
    reminder,
    seed,
)

# ---- delivery ids ------------------------------------------------------------------


def test_one_delivery_id_for_two_processes_is_recorded_in_both(store: ProcessStore) -> None:
    rebase, ticket = seed(), reminder()
    rebases = ProcessManager(definition(rebase), store)
    tickets = ProcessManager(definition(ticket), store)
    delivery = uuid.uuid4()  # one message, two subscribers

    first = rebases.handle(rebase.RebaseFailed(rebase_id="k1", instances=["A"]), delivery)
    second = tickets.handle(ticket.Opened(ticket_id="k1"), delivery)

    assert (first.status, second.status) == (HandleStatus.RECORDED, HandleStatus.RECORDED)
    assert names(rebases.history("k1"))[0] == "RebaseFailed"
    assert names(tickets.history("k1"))[0] == "Opened"
    assert first.event_id != second.event_id


def test_one_delivery_id_for_two_keys_is_recorded_under_both(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)
    delivery = uuid.uuid4()

    first = manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]), delivery)
    second = manager.handle(m.RebaseFailed(rebase_id="r2", instances=["B"]), delivery)
    Worker(definition(m), store, RebaseTasks()).drain()

    assert (first.status, second.status) == (HandleStatus.RECORDED, HandleStatus.RECORDED)
    for key in ("r1", "r2"):
        history = manager.history(key)
        assert_well_formed(history)
        assert manager.state(key).end is End.COMPLETED
    # The decisions name the stored id as their cause, and task ids differ.
    planned_1 = of_type(manager.history("r1"), "TransitionPlanned")[0]
    planned_2 = of_type(manager.history("r2"), "TransitionPlanned")[0]
    assert (planned_1.caused_by, planned_2.caused_by) == (first.event_id, second.event_id)
    assert planned_1.task_id != planned_2.task_id


def test_a_delivery_id_redelivered_to_its_stream_is_deduplicated(
    open_same_store: OpenStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), open_same_store())
    # Another manager, as in another process: no cache to remember the id by.
    other = ProcessManager(definition(m), open_same_store())
    event = m.RebaseFailed(rebase_id="r1", instances=["A"])
    delivery = uuid.uuid4()

    first = manager.handle(event, delivery)
    again = manager.handle(event, delivery)
    elsewhere = other.handle(event, delivery)

    assert first.status is HandleStatus.RECORDED
    assert again.status is elsewhere.status is HandleStatus.DEDUPLICATED
    assert again.event_id == elsewhere.event_id == first.event_id
    assert first.event_id == manager.stored_event_id("r1", delivery)
    assert names(manager.history("r1")).count("RebaseFailed") == 1
    assert manager.history("r1")[0].event_id == first.event_id


# ---- NUL characters ----------------------------------------------------------------


def test_a_key_with_a_nul_character_is_refused_clearly(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    with pytest.raises(ValueError, match=r"key must not contain a NUL character"):
        manager.handle(m.RebaseFailed(rebase_id="r\x001", instances=["A"]))
    with pytest.raises(ValueError, match=r"key must not contain a NUL character"):
        store.load("RtRebase", "r\x001")


def test_an_input_event_with_a_nul_character_is_refused_before_anything_is_written(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    with pytest.raises(ValueError, match=r"RebaseFailed contains a NUL character"):
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A\x00"]))

    assert manager.history("r1") == []


def test_an_input_event_is_checked_once_and_each_decision_once(
    store: ProcessStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The manager checks the input event before deciding on it; the store
    # then checks only what was decided (it would check all of an append of
    # its own caller's, see tests/runtime_store/test_events.py).
    checked: list[object] = []
    unstorable = api.unstorable
    monkeypatch.setattr(api, "unstorable", lambda value: checked.append(value) or unstorable(value))
    m = seed()
    manager = ProcessManager(definition(m), store)
    event = m.RebaseFailed(rebase_id="r1", instances=["A"])

    result = manager.handle(event)

    assert result.status is HandleStatus.RECORDED and result.decisions
    recorded = [event, *result.decisions]
    assert [value for value in checked if isinstance(value, dict)] == [
        each.model_dump() for each in recorded
    ]


def test_a_failure_reason_with_a_nul_character_is_recorded_escaped(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    def refuse(machine_id: str, attempt: int) -> None:
        if attempt == 1:
            raise RuntimeError("bad\x00byte")

    worker = Worker(definition(m), store, RebaseTasks(refuse))
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.run_once()

    assert [f.reason for f in of_type(manager.history("r1"), "TaskFailed")] == ["bad\\x00byte"]
    assert worker.stats.retrying == 1  # the stream moved on: the retry is scheduled


# ---- lone surrogates: text that is not valid Unicode ------------------------------
#
# os.fsdecode and other surrogateescape decoding turn undecodable bytes into
# lone surrogates ('\udcff'); UTF-8 cannot encode them and PostgreSQL refuses
# them, so they are treated like NUL on every backend.


def test_a_key_with_a_lone_surrogate_is_refused_clearly(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    with pytest.raises(ValueError, match=r"key must not contain a lone surrogate"):
        manager.handle(m.RebaseFailed(rebase_id="r\udcff", instances=["A"]))
    with pytest.raises(ValueError, match=r"key must not contain a lone surrogate"):
        manager.state("r\udcff")
    with pytest.raises(ValueError, match=r"key must not contain a lone surrogate"):
        store.load("RtRebase", "r\udcff")


def test_a_key_no_store_can_hold_is_refused_before_a_delivery_id_is_derived_from_it(
    store: ProcessStore,
) -> None:
    """The stored id of a delivery derives from the key: a key that cannot be hashed
    as UTF-8, or is too long, is refused as a pmc error, not a UnicodeEncodeError."""
    m = seed()
    manager = ProcessManager(definition(m), store)

    with pytest.raises(api.UnstorableValue, match=r"key must not contain a lone surrogate"):
        manager.handle(m.RebaseFailed(rebase_id="r\ud800", instances=["A"]), event_id="d1")
    with pytest.raises(api.UnstorableValue, match=r"key is longer than 255 characters"):
        manager.handle(m.RebaseFailed(rebase_id="r" * 300, instances=["A"]), event_id="d1")
    with pytest.raises(api.UnstorableValue, match=r"key must not contain a lone surrogate"):
        manager.stored_event_id("r\ud800", "d1")


def test_an_event_id_with_a_lone_surrogate_is_refused_clearly(store: ProcessStore) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    with pytest.raises(ValueError, match=r"event_id must not contain a lone surrogate"):
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]), event_id="m-\ud800")

    assert manager.history("r1") == []


def test_an_input_event_with_a_lone_surrogate_is_refused_before_anything_is_written(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    with pytest.raises(ValueError, match=r"RebaseFailed contains a lone surrogate"):
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A\udcff"]))

    assert manager.history("r1") == []


def test_a_failure_reason_with_a_lone_surrogate_is_recorded_escaped(
    store: ProcessStore,
) -> None:
    m = seed()
    manager = ProcessManager(definition(m), store)

    def refuse(machine_id: str, attempt: int) -> None:
        if attempt == 1:
            raise RuntimeError("stderr: \udcff\x00 garbage")

    worker = Worker(definition(m), store, RebaseTasks(refuse))
    manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))

    worker.run_once()

    assert [f.reason for f in of_type(manager.history("r1"), "TaskFailed")] == [
        "stderr: \\udcff\\x00 garbage"
    ]
    assert worker.stats.retrying == 1


class _OrderTasks:
    def __init__(self, reservation: Any) -> None:
        self.reservation = reservation

    def reserve(self, task: Any, ctx: TaskContext) -> Any:
        return self.reservation

    def ship(self, task: Any, ctx: TaskContext) -> None:
        pass


@pytest.mark.parametrize(
    ("returned", "reason"),
    [
        (
            {"reservation": 3},
            "invalid result: reservation: Input should be a valid string",
        ),
        ({}, "invalid result: reservation: Field required"),
        (
            {"reservation": "a\x00b"},
            "invalid result: it contains a NUL character (\\x00), which stores cannot hold",
        ),
        (
            {"reservation": "ch-\udcff"},
            "invalid result: it contains a lone surrogate (\\udcff), which stores cannot hold",
        ),
    ],
)
def test_an_invalid_result_fails_the_attempt_naming_the_field(
    store: ProcessStore, returned: Any, reason: str
) -> None:
    m = order()
    manager = ProcessManager(definition(m), store, tasks=_OrderTasks(returned))

    result = manager.handle(m.Placed(order_id="o1", items=["x"]))

    assert [run.reason for run in result.sync_runs][:1] == [reason]
    assert of_type(manager.history("o1"), "TaskFailed")[0].reason == reason
