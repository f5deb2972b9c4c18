# Rolling a new version out over regions, canary first.
#
# One machine instance per region. The canary region is deployed first and
# probed every minute; each instance counts its own healthy and unhealthy
# probes in its instance data. Once the canary has passed enough probes it
# raises `CanaryPassed`, naming the regions that may follow. When any region
# fails, it raises `RollBack`, which reaches every region (a broadcast), and
# each one that runs the new version rolls back to the previous one; a region
# still deploying keeps its deploy running (`keep`) and rolls back after it.
process RegionRollout {
    key rollout_id

    event RolloutStarted {
        rollout_id: str
        version: str
        previous: str  # what a rollback returns to
        regions: list[str]
        canary: str
        # Regions in a change freeze keep the version they run.
        frozen: list[str]
        healthy_probes: int = 3
        unhealthy_allowed: int = 1
    }

    data {
        version: str = ""
        previous: str = ""
        canary: str = ""
        regions: list[str]  # no default: an empty list
        healthy_probes: int = 3
        unhealthy_allowed: int = 1
        # The region whose failure started the rollback; none while all is well.
        failed_region: str | None = none
        # Rollbacks in flight: the rollout fails once they are all done.
        rollbacks: int = 0
    }

    # Raised by the canary: the regions it names deploy (`on CanaryPassed.regions`).
    signal CanaryPassed {
        regions: list[str]
    }

    # Raised by a region that failed: every region hears it.
    signal RollBack {
        reason: str
    }

    task Deploy {
        region: str
        version: str
        change: str  # the change ticket, one per rollout and region
        returns {
            # The deploy system says how long the region must bake.
            bake_until: datetime
        }
        retry 2 backoff 30s
        timeout 20m
    }

    task Probe sync {
        region: str
        version: str
        returns {
            healthy: bool
        }
        timeout 10s
    }

    task Rollback {
        region: str
        version: str
        retry 5 every 1m
        timeout 20m
    }

    machine Region {
        # One record per region, for the canary's counts and the bake time.
        data {
            healthy: int = 0
            unhealthy: int = 0
            bake_until: datetime | None = none
        }
        states Pending, Waiting, Deploying, Baking, Probing, Checking, Live, Aborting, RollingBack,
               RolledBack, Cancelled, Frozen, Stuck
        initial Pending
        final RolledBack, Cancelled, Frozen, Stuck

        # One instance per region; guards tried in order pick its path. The
        # canary comes first, even if listed as frozen: it was chosen for this
        # rollout. Its transition keeps the rollout's settings in the data,
        # where the regions that follow read them.
        transition canary: Pending -> Deploying on RolloutStarted.regions
            when machine_id == event.canary
            run Deploy(
                region = machine_id,
                version = event.version,
                change = key + "/" + machine_id,
            )
            set data.version = event.version, data.previous = event.previous,
                data.canary = event.canary, data.regions = event.regions,
                data.healthy_probes = event.healthy_probes,
                data.unhealthy_allowed = event.unhealthy_allowed
        transition wait: Pending -> Waiting on RolloutStarted.regions
            when machine_id not in event.frozen
        transition freeze: Pending -> Frozen on RolloutStarted.regions

        # `on Signal.field` picks the instances the list names; a region in
        # another state (frozen, or the canary itself) ignores it.
        transition follow: Waiting -> Deploying on CanaryPassed.regions
            run Deploy(region = machine_id, version = data.version, change = key + "/" + machine_id)

        transition probe_canary: Deploying -> Probing on Deploy completed
            when machine_id == data.canary
        transition bake: Deploying -> Baking on Deploy completed
            set instance.bake_until = event.bake_until
        # A deadline read from data: due at the instant the deploy system named.
        transition baked: Baking -> Live on at instance.bake_until

        # ---- the canary: at least `healthy_probes` healthy probes ----------------
        transition probe: Probing -> Checking on after 1m
            run Probe(region = machine_id, version = data.version)
        transition promote: Checking -> Live on Probe completed
            when event.healthy and (instance.healthy + 1) >= data.healthy_probes
            set instance.healthy = instance.healthy + 1
            emit CanaryPassed(regions = data.regions)
        transition healthy: Checking -> Probing on Probe completed
            when event.healthy
            set instance.healthy = instance.healthy + 1
        # A bad probe or two may be noise.
        transition flaky: Checking -> Probing on Probe completed
            when instance.unhealthy < data.unhealthy_allowed
            set instance.unhealthy = instance.unhealthy + 1

        # ---- a region fails: it rolls itself back and tells the others -----------
        transition sick: Checking -> RollingBack on Probe completed
            run Rollback(region = machine_id, version = data.previous)
            set data.failed_region = machine_id, data.rollbacks = data.rollbacks + 1
            emit RollBack(reason = machine_id + " is unhealthy")
        transition probe_failed: Checking -> RollingBack on Probe failed
            run Rollback(region = machine_id, version = data.previous)
            set data.failed_region = machine_id, data.rollbacks = data.rollbacks + 1
            emit RollBack(reason = machine_id + ": " + event.reason)
        transition deploy_failed: Deploying -> RollingBack on Deploy failed
            run Rollback(region = machine_id, version = data.previous)
            set data.failed_region = machine_id, data.rollbacks = data.rollbacks + 1
            emit RollBack(reason = machine_id + ": " + event.reason)

        # `on RollBack` without a selector on a machine with many instances:
        # every region whose state accepts it moves, the region that raised
        # it included (it is rolling back already, so it does not). A probe
        # still running in `Checking` is dropped: it changes nothing.
        transition roll_back: Baking, Probing, Checking, Live -> RollingBack on RollBack
            run Rollback(region = machine_id, version = data.previous)
            set data.rollbacks = data.rollbacks + 1
        # A deploy under way cannot be called back: rolling back now, a deploy
        # that finishes later would leave the new version running in a region
        # the rollout calls rolled back. `keep` lets it finish, and the region
        # rolls back once it has. It counts as a rollback in flight already, so
        # the rollout does not fail before it is done.
        transition abort: Deploying -> Aborting on RollBack
            keep Deploy
            set data.rollbacks = data.rollbacks + 1
        transition late_deployed: Aborting -> RollingBack on Deploy completed
            run Rollback(region = machine_id, version = data.previous)
        # A deploy that failed may still have updated some of the region's
        # hosts (as `deploy_failed` assumes): roll back all the same.
        transition late_failed: Aborting -> RollingBack on Deploy failed
            run Rollback(region = machine_id, version = data.previous)
        transition cancel: Waiting -> Cancelled on RollBack

        transition rolled_back: RollingBack -> RolledBack on Rollback completed
            set data.rollbacks = data.rollbacks - 1
        # The old version could not be restored: a person must step in.
        transition stuck: RollingBack -> Stuck on Rollback failed
            set data.rollbacks = data.rollbacks - 1
    }

    start on RolloutStarted

    complete when all Region in Live, Frozen

    # A data condition alone. Failing as soon as a region fails would drop
    # the rollbacks still running: the rollout fails once they are done.
    fail when data.failed_region is not none and data.rollbacks == 0
}
