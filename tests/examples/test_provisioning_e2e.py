"""examples/provisioning.pm end to end: undo tasks given their ids from data, nodes
released by the `NetworkLost` signal.
"""

from __future__ import annotations

from typing import Any

from pmc.runtime import End, PermanentFailure, TaskContext
from pmc.runtime.stores import ProcessStore
from tests.examples.inputs import cluster_requested, provisioning
from tests.examples.support import (
    Recorded,
    assert_pmc_replay_agrees,
    assert_replay_agrees,
    deployed,
    events_named,
    planned,
    run_task,
    signals,
)


class Cloud:
    """The `E2eProvisioningTasks` handlers; the firewall may refuse."""

    def __init__(self, firewall_fails: bool = False) -> None:
        self.firewall_fails = firewall_fails
        self.seen = Recorded()

    def create_network(self, task: Any, ctx: TaskContext) -> Any:
        self.seen.add("CreateNetwork", task, ctx)
        return {"network_id": f"net-{task.request_id}"}

    def configure_firewall(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("ConfigureFirewall", task, ctx)
        if self.firewall_fails:
            raise PermanentFailure("rule limit reached")

    def delete_network(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("DeleteNetwork", task, ctx)

    def allocate_node(self, task: Any, ctx: TaskContext) -> Any:
        self.seen.add("AllocateNode", task, ctx)
        return {"server_id": f"srv-{task.node}", "address": f"10.0.0.{ord(task.node)}"}

    def install_image(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("InstallImage", task, ctx)

    def release_node(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("ReleaseNode", task, ctx)


def test_a_cluster_comes_up_with_the_ids_it_was_given_kept_in_data(
    store: ProcessStore,
) -> None:
    cloud = Cloud()
    manager, worker = deployed(provisioning(), store, cloud)

    manager.handle(cluster_requested(["a", "b", "c"]))
    # The fan-out planned three transitions; each added one to what the one
    # before it had written.
    assert manager.state(7).data.servers == 3
    worker.drain()

    state = assert_replay_agrees(provisioning(), manager, 7)
    assert state.end is End.COMPLETED
    assert (state.data.network_id, state.data.network_settled) == ("net-7", True)
    nodes = state.instance_data["Node"]
    assert {node: record.server_id for node, record in nodes.items()} == {
        "a": "srv-a",
        "b": "srv-b",
        "c": "srv-c",
    }
    assert signals(manager.history(7)) == []


def test_a_lost_network_is_deleted_by_its_id_and_every_node_releases_its_server(
    store: ProcessStore, store_url: str
) -> None:
    cloud = Cloud(firewall_fails=True)
    manager, worker = deployed(provisioning(), store, cloud)
    manager.handle(cluster_requested(["a", "b", "c"]))
    run_task(manager, 7, "CreateNetwork")
    for task, node in [("AllocateNode", "a"), ("InstallImage", "a"), ("AllocateNode", "b")]:
        run_task(manager, 7, task, node)
    # a is ready, b is installing, c still allocating: now the firewall fails.
    run_task(manager, 7, "ConfigureFirewall")

    history = manager.history(7)
    assert signals(history) == [
        ("NetworkLost", {"reason": "firewall: rule limit reached"}, "Network", "unsecured")
    ]
    assert planned(history)[-4:] == [
        ("Network", "Network", "unsecured"),
        ("Node", "a", "release"),
        ("Node", "b", "release"),
        ("Node", "c", "abandon"),
    ]
    abandon = events_named(history, "TransitionPlanned")[-1]
    [allocation] = [t for t in manager.state(7).tasks.values() if t.task == "AllocateNode"]
    assert abandon.kept_tasks == [allocation.task_id]

    worker.drain()

    state = assert_replay_agrees(provisioning(), manager, 7)
    assert state.end is End.FAILED
    assert state.end_reason == "data.network_settled and data.servers == 0 holds"
    assert state.of("Network") == "RolledBack"
    assert dict(state.instances_of("Node")) == {"a": "Skipped", "b": "Skipped", "c": "Skipped"}
    assert cloud.seen.of("DeleteNetwork") == [
        {"network_id": "net-7", "reason": "rule limit reached"}
    ]
    released = sorted((r["server_id"], r["reason"]) for r in cloud.seen.of("ReleaseNode"))
    assert released == [
        ("srv-a", "firewall: rule limit reached"),
        ("srv-b", "firewall: rule limit reached"),
        ("srv-c", "network lost"),  # allocated after the network was lost
    ]
    assert_pmc_replay_agrees(provisioning(), store_url)
