"""Every derived id is a persisted format: these values must never change.

The ids below were computed by the runtime of pmc 0.1.0 from fixed inputs
(then in ``engine.py`` and ``attempts.py``, now all in ``contract.py``).
Task and timer ids are recorded in ``TransitionPlanned`` / ``TimerScheduled``;
the runtime's own ids (deliveries, decisions, attempts, timeouts, fired
timers) are the stored ids the inbox deduplicates on. A changed derivation
would plan new ids for decisions re-made on old streams, and record a
re-delivered outcome twice. A failure here is a breaking change, not a test
to update.
"""

from __future__ import annotations

import pickle
import uuid
from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pmc.runtime import EventMeta
from pmc.runtime import contract as ids
from pmc.runtime.contract import canonical_json, derived_id
from tests.compat.support import released_module

EVENT = UUID("00000000-0000-4000-8000-000000000001")
TASK = UUID("00000000-0000-4000-8000-000000000002")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("derived", "expected"),
    [
        pytest.param(
            lambda: derived_id("task", "RebaseCleanup", "r1", EVENT, "Instance", "A", "close", 0),
            "873e8b87-9e19-58df-b166-20496fb99244",
            id="task",
        ),
        pytest.param(
            lambda: derived_id("task", "RebaseCleanup", "r1", EVENT, "Instance", "A", "close", 1),
            "56651e17-7b9e-558f-aaff-d3bfb42dc7ad",
            id="task-second-plan",
        ),
        pytest.param(
            lambda: derived_id(
                "timer", "DocumentApproval", "d1", EVENT, "Review", "Review", "submit", 0, "remind"
            ),
            "0a8149ad-0902-5cf3-81db-cb3adf6844c0",
            id="timer",
        ),
        pytest.param(
            lambda: derived_id(
                "timer", "DocumentApproval", "d1", EVENT, "Review", "Review", "", 0, "remind"
            ),
            "ddb93693-04b7-55c9-a951-0bc13791de45",
            id="timer-of-initial-state",
        ),
        pytest.param(
            lambda: ids.delivery_id("RebaseCleanup", "r1", EVENT),
            "363e89b8-6243-528d-85df-3d1799cae492",
            id="delivery",
        ),
        pytest.param(
            lambda: ids.decision_id(EVENT, 0), "567a9239-252d-532b-ad17-5bb8461dcf24", id="decision"
        ),
        pytest.param(
            lambda: ids.decision_id(EVENT, 3),
            "5b4b9127-2ad1-5264-bac0-3fe10e7c4a65",
            id="decision-fourth",
        ),
        pytest.param(
            lambda: ids.started_id(TASK, 1), "c420bc7c-337a-5b8f-9bc3-bfb8cc255ec4", id="started"
        ),
        pytest.param(
            lambda: ids.renewed_id(TASK, 1, 2), "cbb3d2b9-10b8-5ac2-867e-3d5292427d66", id="renewed"
        ),
        pytest.param(
            lambda: ids.outcome_id(TASK, 1), "29750d07-b89c-5146-bfb8-85376a6e1d15", id="outcome"
        ),
        pytest.param(
            lambda: ids.timed_out_id(TASK, 2),
            "ec9ca940-509a-5210-9e86-b8356226255a",
            id="timed-out",
        ),
        pytest.param(
            lambda: ids.fired_id(TASK), "cb8a3431-7980-5b60-83f7-f0d08e776393", id="fired"
        ),
        pytest.param(
            lambda: ids.operator_id("retry", "OpDesk", "t1", "op-7"),
            "ee088344-955a-5e34-9ece-7ab54b420f3d",
            id="operator-action",
        ),
    ],
)
def test_derived_ids_never_change(derived: object, expected: str) -> None:
    assert callable(derived)
    assert derived() == UUID(expected)


def test_canonical_json_never_changes() -> None:
    # Task inputs are compared through it (a re-made decision must match).
    assert canonical_json({"b": [1, 2.5, "é"], "a": None}) == '{"a":null,"b":[1,2.5,"é"]}'


def test_decisions_of_a_released_module_plan_the_same_ids() -> None:
    """The ids a decision plans: what the engine feeds the derivations, pinned end to end."""
    module = released_module("v0_1_0", "document_approval")
    definition = module.DEFINITION
    document = UUID("00000000-0000-4000-8000-0000000000d0")
    event = module.ReviewRequested(
        document_id=document, title="t", author="a", reviewers=["ann", "bob"], requested_at=T0
    )
    meta = EventMeta(event_id=EVENT, timestamp=T0, key=str(document))
    decisions = definition.decide(definition.initial_state(), event, meta)
    planned = {
        (d.machine_id, d.transition): str(d.task_id)
        for d in decisions
        if isinstance(d, module.TransitionPlanned)
    }
    timers = {
        (d.machine_id, d.transition): str(d.timer_id)
        for d in decisions
        if isinstance(d, module.TimerScheduled)
    }
    assert planned == {
        ("ann", "notify"): "8f2c9ecb-5eff-539c-b567-4c3f932f5ed4",
        ("bob", "notify"): "60ddb75e-0cf0-519f-9032-70a52e41c002",
        ("Deadline", "begin"): "None",
    }
    assert timers == {("Deadline", "expire"): "eaa6538c-b45a-5795-a670-19af2af56745"}


def test_the_old_homes_of_the_derivations_still_export_them() -> None:
    from pmc.runtime import attempts, engine

    assert attempts.started_id is ids.started_id
    assert engine.derived_id is ids.derived_id


def test_the_engine_does_not_import_the_definition_class() -> None:
    """The cycle ``engine`` <-> ``definition`` is gone: both import ``contract``."""
    import ast
    from pathlib import Path

    from pmc.runtime import engine

    tree = ast.parse(Path(engine.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "pmc.runtime.definition" not in imported
    assert "pmc.runtime.contract" in imported


@given(st.text(), st.uuids())
def test_a_derived_id_is_uuid5_of_its_namespace_and_name(name: str, namespace: UUID) -> None:
    # The ids are built without uuid.uuid5 (twice as fast): they must be its UUIDs.
    made = ids._uuid5(ids._namespace_hash(namespace), name)
    expected = uuid.uuid5(namespace, name)
    assert made == expected
    assert (made.version, made.variant, str(made), hash(made)) == (
        expected.version,
        expected.variant,
        str(expected),
        hash(expected),
    )
    assert pickle.loads(pickle.dumps(made)) == expected
