"""examples/region_rollout.pm with pmc.testing: a canary, its probes, a broadcast rollback.

The end-to-end runs on SQLite and PostgreSQL stay in test_region_rollout_e2e.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pmc.runtime import PermanentFailure, TaskContext
from pmc.testing import MakeScenario, Scenario, run, succeed
from tests.examples.inputs import rollout, rollout_started

Make = MakeScenario
BAKE = timedelta(minutes=10)
MINUTE = timedelta(minutes=1)


def regions(scenario: Make, probes: list[bool], refuse: str = "", slow: str = "") -> Scenario:
    """Deploys bake for BAKE; ``refuse`` refuses its deploy for good, ``slow`` fails its
    first deploy attempt with an error worth a retry; probes answer ``probes`` in turn."""
    s = scenario(rollout(), default=succeed())
    slowed = {slow}

    def deploy(task: Any, ctx: TaskContext) -> Any:
        if task.region == refuse:
            raise PermanentFailure("quota exceeded")
        if task.region in slowed:
            slowed.remove(task.region)
            raise ConnectionError("deploy API unavailable")
        return {"bake_until": s.now + BAKE}

    s.script("Deploy", run(deploy))
    return s.script("Probe", *[succeed({"healthy": healthy}) for healthy in probes])


def test_the_canary_counts_healthy_probes_then_the_other_regions_follow_and_bake(
    scenario: Make,
) -> None:
    # Healthy, unhealthy (one is allowed), healthy: the second healthy one promotes.
    s = regions(scenario, probes=[True, False, True])

    s.when(rollout_started(["eu", "us", "ap", "cn"], frozen=["cn"], healthy_probes=2))
    s.expect_transitions(
        "Region[eu]: Pending -> Deploying (canary)",
        "Region[us]: Pending -> Waiting (wait)",
        "Region[ap]: Pending -> Waiting (wait)",
        "Region[cn]: Pending -> Frozen (freeze)",
        "Region[eu]: Deploying -> Probing",
    )

    s.advance(3 * MINUTE)

    canary = s.state.instance_data["Region"]["eu"]
    assert (canary.healthy, canary.unhealthy) == (2, 1)
    s.expect_signals(("CanaryPassed", {"regions": ["eu", "us", "ap", "cn"]}))
    s.expect_states(Region={"eu": "Live", "us": "Baking", "ap": "Baking", "cn": "Frozen"})
    # Each region's deadline is the instant its deploy returned, read from its data.
    s.expect_timers(*[("probe", MINUTE)] * 2, ("baked", s.now + BAKE), ("baked", s.now + BAKE))

    s.advance(BAKE)

    s.expect_end("completed").expect_transitions(
        "Region[us]: Baking -> Live (baked)", "Region[ap]: Baking -> Live", ordered=False
    )
    # The canary first; the two that followed in either order.
    deploys = s.tasks.inputs("Deploy")
    assert deploys[0] == {"region": "eu", "version": "v2", "change": "r1/eu"}
    assert sorted(d["change"] for d in deploys[1:]) == ["r1/ap", "r1/us"]
    assert s.tasks.calls("Rollback") == []


def test_a_region_that_fails_rolls_back_every_region_that_runs_the_new_version(
    scenario: Make,
) -> None:
    s = regions(scenario, probes=[True], refuse="us")
    s.when(rollout_started(["eu", "us", "ap"], frozen=[], healthy_probes=1))

    s.advance(MINUTE)  # the canary passes; us and ap deploy; us fails

    s.expect_signals(
        ("CanaryPassed", {"regions": ["eu", "us", "ap"]}),
        ("RollBack", {"reason": "us: quota exceeded"}),
    )
    s.expect_end("failed", reason="data.failed_region is not none and data.rollbacks == 0 holds")
    s.expect_data(failed_region="us", rollbacks=0)
    s.expect_states(Region={"eu": "RolledBack", "us": "RolledBack", "ap": "RolledBack"})
    rolled_back = sorted((r["region"], r["version"]) for r in s.tasks.inputs("Rollback"))
    assert rolled_back == [("ap", "v1"), ("eu", "v1"), ("us", "v1")]


def test_a_region_still_deploying_when_rollback_arrives_rolls_back_once_its_deploy_is_done(
    scenario: Make,
) -> None:
    # `ap`'s first deploy attempt fails and waits out its backoff; meanwhile
    # `us` refuses the deploy and raises `RollBack`.
    s = regions(scenario, probes=[True], refuse="us", slow="ap")
    s.when(rollout_started(["eu", "us", "ap"], frozen=[], healthy_probes=1))

    s.advance(MINUTE)  # the canary passes; us fails; ap's deploy waits

    # `ap` left `Deploying` keeping its deploy in flight: rolling back now
    # would race the deploy, which may still put the new version in place.
    s.expect_states(Region={"eu": "RolledBack", "us": "RolledBack", "ap": "Aborting"})
    [ap_deploy] = s.state.tasks.values()
    assert (ap_deploy.task, ap_deploy.machine_id) == ("Deploy", "ap")
    # Its rollback is counted as in flight: the rollout has not failed yet.
    s.expect_end(None).expect_data(rollbacks=1)

    s.advance(MINUTE)  # ap's deploy is retried and succeeds

    s.expect_transitions(
        "Region[ap]: Aborting -> RollingBack (late_deployed)",
        "Region[ap]: RollingBack -> RolledBack",
    )
    s.expect_end("failed").expect_data(failed_region="us", rollbacks=0)
    # The rollback ran after the deploy: the region ends on the old version.
    ap_calls = [(c.task, c.input["version"]) for c in s.tasks.calls() if c.machine_id == "ap"]
    assert ap_calls == [("Deploy", "v2"), ("Deploy", "v2"), ("Rollback", "v1")]
