"""examples/provisioning.pm with pmc.testing: undo tasks given their ids from data, nodes
released by the `NetworkLost` signal.

The end-to-end runs on SQLite and PostgreSQL stay in test_provisioning_e2e.py.
"""

from __future__ import annotations

from pmc.testing import MakeScenario, Scenario, fail, succeed
from tests.examples.inputs import cluster_requested, provisioning

Make = MakeScenario


def cloud(scenario: Make) -> Scenario:
    """Every call succeeds; networks and servers get ids from their requests."""
    s = scenario(provisioning(), default=succeed())
    s.script("CreateNetwork", succeed(lambda task: {"network_id": f"net-{task.request_id}"}))
    allocated = succeed(
        lambda task: {"server_id": f"srv-{task.node}", "address": f"10.0.0.{ord(task.node)}"}
    )
    return s.script("AllocateNode", allocated)


def test_a_cluster_comes_up_with_the_ids_it_was_given_kept_in_data(scenario: Make) -> None:
    s = cloud(scenario)

    s.when(cluster_requested(["a", "b", "c"]), run_due=False)
    # The fan-out planned three transitions; each added one to what the one
    # before it had written.
    s.expect_data(servers=3)
    s.run_due()

    s.expect_end("completed").expect_data(network_id="net-7", network_settled=True)
    nodes = s.state.instance_data["Node"]
    assert {node: record.server_id for node, record in nodes.items()} == {
        "a": "srv-a",
        "b": "srv-b",
        "c": "srv-c",
    }
    s.expect_signals()


def test_a_lost_network_is_deleted_by_its_id_and_every_node_releases_its_server(
    scenario: Make,
) -> None:
    s = cloud(scenario)
    s.when(cluster_requested(["a", "b", "c"]), run_due=False)
    s.when_task_runs("CreateNetwork")
    for task, node in [("AllocateNode", "a"), ("InstallImage", "a"), ("AllocateNode", "b")]:
        s.when_task_runs(task, machine_id=node)

    # a is ready, b is installing, c still allocating: now the firewall fails.
    s.when_task_runs("ConfigureFirewall", fail("rule limit reached", permanent=True))

    s.expect_signals(("NetworkLost", {"reason": "firewall: rule limit reached"}))
    s.expect_transitions(
        "Network: Securing -> RollingBack (unsecured)",
        "Node[a]: Ready -> Releasing (release)",
        "Node[b]: Installing -> Releasing (release)",
        "Node[c]: Allocating -> Abandoning (abandon)",
    )
    # c's allocation is kept in flight (`keep`): it is released once allocated.
    assert "AllocateNode" in [t.task for t in s.state.tasks.values()]

    s.run_due()

    s.expect_end("failed", reason="data.network_settled and data.servers == 0 holds")
    s.expect_states(Network="RolledBack", Node={"a": "Skipped", "b": "Skipped", "c": "Skipped"})
    assert s.tasks.inputs("DeleteNetwork") == [
        {"network_id": "net-7", "reason": "rule limit reached"}
    ]
    released = sorted((r["server_id"], r["reason"]) for r in s.tasks.inputs("ReleaseNode"))
    assert released == [
        ("srv-a", "firewall: rule limit reached"),
        ("srv-b", "firewall: rule limit reached"),
        ("srv-c", "network lost"),  # allocated after the network was lost
    ]
