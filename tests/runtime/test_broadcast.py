"""The broadcast rule end to end: manager, workers and replay on every store.

`OrderCancelled` is a plain trigger on the many-instance machine `Item`: it
restocks every item still queued, and leaves the one being picked alone.
"""

from __future__ import annotations

from typing import Any

from pmc.runtime import End, TaskContext
from pmc.runtime.manager import HandleStatus, ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from pmc.streams.replay import replay, store_streams
from tests.engine.processes import PICKING
from tests.runtime.support import Calls, compiled, definition, names

# A name of its own: event-sourcery keeps one class per event name (see processes.py).
RT_PICKING = PICKING.replace("process OrderPicking", "process RtPicking")


class PickingTasks:
    def __init__(self) -> None:
        self.calls = Calls()

    def pick_item(self, task: Any, ctx: TaskContext) -> None:
        self.calls.add("PickItem", ctx)

    def restock(self, task: Any, ctx: TaskContext) -> None:
        assert task.item == ctx.machine_id  # the broadcast bound each instance's id
        self.calls.add("Restock", ctx)


def test_a_cancellation_restocks_every_queued_item_and_replays(store: ProcessStore) -> None:
    m = compiled(RT_PICKING)
    manager = ProcessManager(definition(m), store)
    for item in "CAB":
        manager.handle(m.ItemAdded(order_id="o1", item=item))
    manager.handle(m.PickingStarted(order_id="o1", item="A"))

    result = manager.handle(m.OrderCancelled(order_id="o1"))

    decisions: list[Any] = list(result.decisions)
    assert result.status is HandleStatus.RECORDED
    assert [(d.machine_id, d.transition) for d in decisions] == [("C", "cancel"), ("B", "cancel")]

    tasks = PickingTasks()
    Worker(definition(m), store, tasks, worker_id="w1").drain()

    state = manager.state("o1")
    assert dict(state.instances_of("Item")) == {"C": "Cancelled", "A": "Picked", "B": "Cancelled"}
    assert state.end is End.COMPLETED
    assert sorted(tasks.calls.of("Restock")) == [("B", 1), ("C", 1)]
    assert names(manager.history("o1"))[-1] == "ProcessCompleted"
    # After the end, a second cancellation changes nothing.
    assert manager.handle(m.OrderCancelled(order_id="o1")).decisions == ()

    replayed = replay(definition(compiled(RT_PICKING)), store_streams(store, "RtPicking"))
    assert replayed.ok, replayed.findings
    assert {s.key: s.state for s in replayed.streams} == {"o1": manager.state("o1")}
    assert manager.replay("o1") == manager.state("o1")
