# Provisioning a cluster: a private network and a set of nodes.
#
# Cloud calls fail half-way, so every step that leaves something behind has an
# undo task, and a failed step runs the undo tasks of the steps before it
# (compensation) instead of leaving a half-built resource that costs money.
# An undo task is told exactly what to delete: the ids the cloud handed back
# are kept in the process's data (`set`) and bound from there. When the
# network is lost, the `Network` machine raises the signal `NetworkLost`, and
# every node releases its server: nodes are useless without their network.
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

    # One record per cluster, read and written by every machine.
    data {
        # Set once CreateNetwork has made the network: what DeleteNetwork
        # deletes. Empty until then.
        network_id: str = ""
        # The network is ready, or gone for good: it changes no more.
        network_settled: bool = false
        # Nodes that hold a server, or may soon (an allocation in flight).
        servers: int = 0
    }

    # Raised by the network when it fails; every node hears it.
    signal NetworkLost {
        reason: str
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
    # than backoff. A network that still has servers in it cannot be
    # deleted: the retries give the nodes time to release theirs.
    task DeleteNetwork {
        network_id: str
        reason: str
        retry 10 every 1m
        timeout 2m
    }

    machine Network {
        states Requested, Creating, Securing, Ready, RollingBack, Failed, RolledBack, Leaked
        initial Requested
        final Ready, Failed, RolledBack, Leaked

        # Guards are tried in order: a request without nodes is a mistake
        # of the sender, refused before anything is created.
        transition create: Requested -> Creating on ClusterRequested
            when len(event.nodes) > 0
            run CreateNetwork(
                request_id = key,
                cidr = event.cidr,
                region = event.region,
                labels = event.labels,
            )
        transition refuse: Requested -> Failed on ClusterRequested
            set data.network_settled = true

        # Nothing was created: nothing to undo here, but the nodes must go.
        transition create_failed: Creating -> Failed on CreateNetwork failed
            set data.network_settled = true
            emit NetworkLost(reason = event.reason)

        # The id goes into the data, for the undo task that may need it later.
        transition secure: Creating -> Securing on CreateNetwork completed
            run ConfigureFirewall(
                request_id = key,
                network_id = event.network_id,
                allow_ssh = false,  # a literal: the same for every cluster
            )
            set data.network_id = event.network_id
        transition secured: Securing -> Ready on ConfigureFirewall completed
            set data.network_settled = true
        # An open network is worse than none: compensate, and tell the nodes.
        transition unsecured: Securing -> RollingBack on ConfigureFirewall failed
            run DeleteNetwork(network_id = data.network_id, reason = event.reason)
            emit NetworkLost(reason = "firewall: " + event.reason)

        transition rolled_back: RollingBack -> RolledBack on DeleteNetwork completed
            set data.network_settled = true
        # The undo failed too: a person must delete it (the state says so).
        transition leaked: RollingBack -> Leaked on DeleteNetwork failed
            set data.network_settled = true
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
        server_id: str
        reason: str
        retry 10 every 30s
        timeout 2m
    }

    machine Node {
        # One record per node: the server it got, for ReleaseNode.
        data {
            server_id: str = ""
        }
        states Requested, Allocating, Installing, Ready, Abandoning, Releasing, Skipped, Leaked
        initial Requested
        final Skipped, Leaked

        # Fan-out: one instance per name in `nodes`, each starting in
        # `Requested`; `machine_id` is that name. Each counts itself in
        # `data.servers`: the transitions of one event apply in order, so
        # three nodes count three.
        transition allocate: Requested -> Allocating on ClusterRequested.nodes
            run AllocateNode(
                request_id = key,
                node = machine_id,
                region = event.region,
                size = event.node_size,
            )
            set data.servers = data.servers + 1
        # No capacity left in the region: nothing was allocated.
        transition no_capacity: Allocating -> Skipped on AllocateNode failed
            set data.servers = data.servers - 1

        transition install: Allocating -> Installing on AllocateNode completed
            run InstallImage(server_id = event.server_id, address = event.address)
            set instance.server_id = event.server_id
        # `Ready` is not final: a ready node is still released if its
        # network is lost.
        transition installed: Installing -> Ready on InstallImage completed
        # A server without its image is useless but billed: release it.
        transition broken: Installing -> Releasing on InstallImage failed
            run ReleaseNode(server_id = instance.server_id, reason = event.reason)

        # `NetworkLost` on a machine with many instances reaches every node
        # (a broadcast); each moves if its state accepts it.
        transition release: Installing, Ready -> Releasing on NetworkLost
            run ReleaseNode(server_id = instance.server_id, reason = event.reason)
        # The allocation is under way: dropping it would leak the server it
        # is about to create. `keep` lets it finish; its outcome is handled
        # in `Abandoning`, and the server released at once.
        transition abandon: Allocating -> Abandoning on NetworkLost
            keep AllocateNode
        transition unneeded: Abandoning -> Releasing on AllocateNode completed
            run ReleaseNode(server_id = event.server_id, reason = "network lost")
            set instance.server_id = event.server_id
        transition never_allocated: Abandoning -> Skipped on AllocateNode failed
            set data.servers = data.servers - 1

        transition released: Releasing -> Skipped on ReleaseNode completed
            set data.servers = data.servers - 1
        transition release_failed: Releasing -> Leaked on ReleaseNode failed
    }

    # A cluster may come up short of nodes (the autoscaler tops it up later),
    # but never without its network, nor without a single node. `all M in S,
    # ...` holds when every instance of M is in one of the states; conditions
    # joined by `and` must all hold, and a data condition comes last.
    complete when all Network in Ready and all Node in Ready, Skipped and data.servers > 0

    # A leaked server needs a person, whatever else happened. Otherwise the
    # cluster fails once the network has settled and no node holds a server:
    # no node could be made, or the network is lost and every node has
    # released its server. Ending earlier would drop the releases still
    # running, and their servers would be billed forever.
    fail when any Node in Leaked or (data.network_settled and data.servers == 0)
}
