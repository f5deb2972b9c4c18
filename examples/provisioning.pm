# Provisioning a cluster: a private network and a set of nodes.
#
# Cloud calls fail half-way, so every step that leaves something behind has an
# undo task, and a failed step runs the undo tasks of the steps before it
# (compensation) instead of leaving a half-built resource that costs money.
# Machines do not see each other's state, so each undoes only its own work;
# nodes of a cluster whose network failed are torn down by a separate process
# that subscribes to this one's `ProcessFailed`.
process Provisioning {
    key request_id

    event ClusterRequested {
        request_id: int
        cidr: str
        region: str
        nodes: list[str]
        node_size: str = "standard-2"
        labels: dict[str, str]
    }

    # ---- the network: a chain of steps, undone in reverse on failure ------

    # Creating a network is slow and rate-limited: back off, doubling from
    # 10s, at most 2m between attempts. An attempt that runs past its
    # timeout counts as a failed attempt and is retried like one.
    task CreateNetwork {
        request_id: int
        cidr: str
        region: str
        labels: dict[str, str]
        returns {
            network_id: str
        }
        retry 5 backoff 10s max 2m
        timeout 2m
    }

    # `retry` without a delay tries again at once.
    task ConfigureFirewall {
        request_id: int
        network_id: str
        allow_ssh: bool
        retry 2
        timeout 1m
    }

    # Undo tasks must not give up easily; a steady pace suits them better
    # than backoff. They find what to delete by request id: on `failed` the
    # trigger carries only `reason`, not the ids of earlier results.
    task DeleteNetwork {
        request_id: int
        reason: str
        retry 10 every 1m
        timeout 2m
    }

    machine Network {
        states Requested, Creating, Securing, Ready, RollingBack, Failed, RolledBack, Leaked
        initial Requested
        final Ready, Failed, RolledBack, Leaked

        transition create: Requested -> Creating on ClusterRequested
            run CreateNetwork(
                request_id = key,
                cidr = event.cidr,
                region = event.region,
                labels = event.labels,
            )
        # Nothing was created: nothing to undo.
        transition create_failed: Creating -> Failed on CreateNetwork failed

        transition secure: Creating -> Securing on CreateNetwork completed
            run ConfigureFirewall(
                request_id = key,
                network_id = event.network_id,
                allow_ssh = false,  # a literal: the same for every cluster
            )
        transition secured: Securing -> Ready on ConfigureFirewall completed
        # An open network is worse than none: compensate.
        transition unsecured: Securing -> RollingBack on ConfigureFirewall failed
            run DeleteNetwork(request_id = key, reason = event.reason)

        transition rolled_back: RollingBack -> RolledBack on DeleteNetwork completed
        # The undo failed too: a person must clean up (see `fail when`).
        transition leaked: RollingBack -> Leaked on DeleteNetwork failed
    }

    # ---- the nodes: one instance per node name, each with its own undo ------

    task AllocateNode {
        request_id: int
        node: str
        region: str
        size: str
        returns {
            server_id: str
            address: str
        }
        retry 4 backoff 5s max 1m
        timeout 5m
    }

    task InstallImage {
        server_id: str
        address: str
        image: str = "base-2026.10"
        harden: bool = true
        retry 1 every 30s
        timeout 15m
    }

    task ReleaseNode {
        request_id: int
        node: str
        reason: str
        retry 10 every 30s
        timeout 2m
    }

    machine Node {
        states Requested, Allocating, Installing, Ready, Releasing, Skipped, Leaked
        initial Requested
        final Ready, Skipped, Leaked

        # Fan-out: one instance per name in `nodes`, each starting in
        # `Requested`; `machine_id` is that name.
        transition allocate: Requested -> Allocating on ClusterRequested.nodes
            run AllocateNode(
                request_id = key,
                node = machine_id,
                region = event.region,
                size = event.node_size,
            )
        # No capacity left in the region: nothing was allocated.
        transition no_capacity: Allocating -> Skipped on AllocateNode failed

        transition install: Allocating -> Installing on AllocateNode completed
            run InstallImage(server_id = event.server_id, address = event.address)
        transition installed: Installing -> Ready on InstallImage completed
        # A server without its image is useless but billed: release it.
        transition broken: Installing -> Releasing on InstallImage failed
            run ReleaseNode(request_id = key, node = machine_id, reason = event.reason)

        transition released: Releasing -> Skipped on ReleaseNode completed
        transition release_failed: Releasing -> Leaked on ReleaseNode failed
    }

    # A cluster may come up short of nodes (the autoscaler tops it up later),
    # but never without its network. `all M in S, ...` holds when every
    # instance of M is in one of the states; conditions joined by `and` must
    # all hold.
    complete when all Network in Ready and all Node in Ready, Skipped

    # A leak needs a person, whatever else happened.
    fail when any Network in Failed, RolledBack, Leaked or any Node in Leaked
}
