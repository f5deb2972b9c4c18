"""What the runtime's types promise holds at run time (issue #8, items 6 and 7).

Keys in their declared types, delivery ids as text or UUIDs, lifecycle
events whose states come back in their own machine's enum, reading the state
of a machine, and end reasons that name a single instance once.
"""

from __future__ import annotations

import uuid
from types import ModuleType

import pytest

from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore
from tests.runtime.support import compiled, definition, of_type

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


def deploy() -> ModuleType:
    return compiled(DEPLOY)


def by_uuid() -> ModuleType:
    return compiled(BY_UUID)


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
