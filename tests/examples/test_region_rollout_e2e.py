"""examples/region_rollout.pm end to end: a canary, its probes, and a broadcast rollback.

The canary region is probed every minute and counts its probes in its
instance data; once it has enough healthy ones, `CanaryPassed` names the
regions that follow. A region that fails raises `RollBack`, which every
region hears. The stores run on a fake clock, which the test moves to fire
the probe timers and the bake deadlines (`on at instance.bake_until`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pmc.runtime import End, PermanentFailure, TaskContext
from pmc.runtime.stores import ProcessStore
from tests.examples.inputs import rollout, rollout_started
from tests.examples.support import (
    Recorded,
    assert_pmc_replay_agrees,
    assert_replay_agrees,
    deployed,
    events_named,
    planned,
    signal_ids,
    signals,
    time_passes,
)
from tests.fake_clock import FakeClock

BAKE = timedelta(minutes=10)


class Regions:
    """The `E2eRegionRolloutTasks` handlers: scripted probes, and regions that refuse a deploy.

    A region in ``slow`` fails its first deploy attempt with an error worth a
    retry: its deploy is still in flight (waiting out its backoff) after the
    others are done.
    """

    def __init__(
        self,
        clock: FakeClock,
        probes: list[bool],
        refuse: frozenset[str] = frozenset(),
        slow: frozenset[str] = frozenset(),
    ) -> None:
        self.clock = clock
        self.probes = list(probes)
        self.refuse = refuse
        self.slow = set(slow)
        self.seen = Recorded()

    def deploy(self, task: Any, ctx: TaskContext) -> Any:
        self.seen.add("Deploy", task, ctx)
        if task.region in self.refuse:
            raise PermanentFailure("quota exceeded")
        if task.region in self.slow:
            self.slow.remove(task.region)
            raise ConnectionError("deploy API unavailable")
        return {"bake_until": self.clock() + BAKE}

    def probe(self, task: Any, ctx: TaskContext) -> Any:
        self.seen.add("Probe", task, ctx)
        return {"healthy": self.probes.pop(0)}

    def rollback(self, task: Any, ctx: TaskContext) -> None:
        self.seen.add("Rollback", task, ctx)


def test_the_canary_counts_healthy_probes_then_the_other_regions_follow_and_bake(
    store: ProcessStore, store_url: str, clock: FakeClock
) -> None:
    # Healthy, unhealthy (one is allowed), healthy: the second healthy one promotes.
    handlers = Regions(clock, probes=[True, False, True])
    manager, worker = deployed(rollout(), store, handlers)

    manager.handle(rollout_started(["eu", "us", "ap", "cn"], frozen=["cn"], healthy_probes=2))
    assert planned(manager.history("r1")) == [
        ("Region", "eu", "canary"),
        ("Region", "us", "wait"),
        ("Region", "ap", "wait"),
        ("Region", "cn", "freeze"),
    ]
    worker.drain()
    assert dict(manager.state("r1").instances_of("Region"))["eu"] == "Probing"

    for _ in range(3):
        time_passes(clock, worker, minutes=1)
    state = manager.state("r1")
    canary = state.instance_data["Region"]["eu"]
    assert (canary.healthy, canary.unhealthy) == (2, 1)
    [passed] = signals(manager.history("r1"))
    assert passed == ("CanaryPassed", {"regions": ["eu", "us", "ap", "cn"]}, "eu", "promote")
    assert dict(state.instances_of("Region")) == {
        "eu": "Live",
        "us": "Baking",
        "ap": "Baking",
        "cn": "Frozen",
    }
    # Each region's deadline is the instant its deploy returned, read from its data.
    bake_until = clock() + BAKE
    assert state.instance_data["Region"]["us"].bake_until == bake_until
    deadlines = [t.due_at for t in events_named(manager.history("r1"), "TimerScheduled")]
    assert deadlines.count(bake_until) == 2

    time_passes(clock, worker, minutes=10)

    state = assert_replay_agrees(rollout(), manager, "r1")
    assert state.end is End.COMPLETED
    assert set(dict(state.instances_of("Region")).values()) == {"Live", "Frozen"}
    # The canary first; the worker then runs the two that followed in either order.
    deploys = handlers.seen.of("Deploy")
    assert deploys[0] == {"region": "eu", "version": "v2", "change": "r1/eu"}
    assert sorted(d["change"] for d in deploys[1:]) == ["r1/ap", "r1/us"]
    assert handlers.seen.of("Rollback") == []
    assert [p for p in planned(manager.history("r1")) if p[1] == "us"] == [
        ("Region", "us", "wait"),
        ("Region", "us", "follow"),
        ("Region", "us", "bake"),
        ("Region", "us", "baked"),
    ]
    assert_pmc_replay_agrees(rollout(), store_url)


def test_a_region_that_fails_rolls_back_every_region_that_runs_the_new_version(
    store: ProcessStore, store_url: str, clock: FakeClock
) -> None:
    handlers = Regions(clock, probes=[True], refuse=frozenset({"us"}))
    manager, worker = deployed(rollout(), store, handlers)
    manager.handle(rollout_started(["eu", "us", "ap"], frozen=[], healthy_probes=1))
    worker.drain()

    time_passes(clock, worker, minutes=1)  # the canary passes; us and ap deploy; us fails

    history = manager.history("r1")
    passed, rollback = signals(history)
    assert passed[:1] == ("CanaryPassed",)
    assert rollback == ("RollBack", {"reason": "us: quota exceeded"}, "us", "deploy_failed")
    # The broadcast moved every region whose state accepts it, in creation
    # order; `us` rolls back already, by the transition that raised it. The
    # worker runs the deploys of `us` and `ap` in either order: `ap` rolls
    # back at once if its deploy is done, or after it if it still runs (`abort`
    # keeps it; the next test runs that case on purpose).
    rollback_id = signal_ids(history)[1]
    moved = [
        (p.machine_id, p.transition)
        for p in events_named(history, "TransitionPlanned")
        if p.caused_by == rollback_id
    ]
    assert moved in (
        [("eu", "roll_back"), ("ap", "roll_back")],
        [("eu", "roll_back"), ("ap", "abort")],
    )

    state = assert_replay_agrees(rollout(), manager, "r1")
    assert state.end is End.FAILED
    assert state.end_reason == "data.failed_region is not none and data.rollbacks == 0 holds"
    assert (state.data.failed_region, state.data.rollbacks) == ("us", 0)
    assert dict(state.instances_of("Region")) == {
        "eu": "RolledBack",
        "us": "RolledBack",
        "ap": "RolledBack",
    }
    rolled_back = sorted((d["region"], d["version"]) for d in handlers.seen.of("Rollback"))
    assert rolled_back == [("ap", "v1"), ("eu", "v1"), ("us", "v1")]
    assert_pmc_replay_agrees(rollout(), store_url)


def test_a_region_still_deploying_when_rollback_arrives_rolls_back_once_its_deploy_is_done(
    store: ProcessStore, store_url: str, clock: FakeClock
) -> None:
    # `ap`'s first deploy attempt fails and waits out its backoff; meanwhile
    # `us` refuses the deploy and raises `RollBack`.
    handlers = Regions(clock, probes=[True], refuse=frozenset({"us"}), slow=frozenset({"ap"}))
    manager, worker = deployed(rollout(), store, handlers)
    manager.handle(rollout_started(["eu", "us", "ap"], frozen=[], healthy_probes=1))
    worker.drain()

    time_passes(clock, worker, minutes=1)  # the canary passes; us fails; ap's deploy waits

    # `ap` left `Deploying` keeping its deploy in flight: rolling back now
    # would race the deploy, which may still put the new version in place.
    history = manager.history("r1")
    [ap_deploy] = [t for t in manager.state("r1").tasks.values() if t.machine_id == "ap"]
    [abort] = [p for p in events_named(history, "TransitionPlanned") if p.transition == "abort"]
    assert (abort.machine_id, abort.caused_by) == ("ap", signal_ids(history)[1])
    assert abort.kept_tasks == [ap_deploy.task_id]
    state = manager.state("r1")
    assert dict(state.instances_of("Region")) == {
        "eu": "RolledBack",
        "us": "RolledBack",
        "ap": "Aborting",
    }
    # Its rollback is counted as in flight: the rollout has not failed yet.
    assert (state.end, state.data.rollbacks) == (None, 1)
    assert [d["region"] for d in handlers.seen.of("Rollback")].count("ap") == 0

    time_passes(clock, worker, minutes=1)  # ap's deploy is retried and succeeds

    state = assert_replay_agrees(rollout(), manager, "r1")
    assert state.end is End.FAILED
    assert (state.data.failed_region, state.data.rollbacks) == ("us", 0)
    assert dict(state.instances_of("Region"))["ap"] == "RolledBack"
    # The rollback ran after the deploy: the region ends on the old version.
    ap_calls = [
        (task, given["version"]) for task, region, given in handlers.seen.calls if region == "ap"
    ]
    assert ap_calls == [("Deploy", "v2"), ("Deploy", "v2"), ("Rollback", "v1")]
    assert [p[2] for p in planned(manager.history("r1")) if p[1] == "ap"] == [
        "wait",
        "follow",
        "abort",
        "late_deployed",
        "rolled_back",
    ]
    assert_pmc_replay_agrees(rollout(), store_url)
