"""The golden second-edition module, compiled from ``.pm`` and run through ``decide``.

The engine's own tests pin each rule; this one shows the generated functions
and tables are what the engine expects, end to end: data set and read back,
guards tried in order, a signal raised and routed (selected and broadcast),
an ``at`` deadline scheduled from data, and the data condition that fails it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from tests.codegen.support import compile_text, import_code
from tests.codegen.test_golden import SECOND_EDITION
from tests.engine.ed2_scenario import CheckedScenario
from tests.engine.scenario import T0

DEADLINE = T0 + timedelta(days=1)


@pytest.fixture(scope="module")
def m() -> ModuleType:
    return import_code(
        compile_text(SECOND_EDITION.read_text(encoding="utf-8"), SECOND_EDITION.name)
    )


def steps(decisions: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for d in decisions:
        name = type(d).__name__
        if name == "TransitionPlanned":
            out.append((d.transition, d.machine_id, d.data_set, d.instance_set))
        elif name == "SignalRaised":
            out.append(("raised", d.signal, d.payload))
        else:
            out.append((name,))
    return out


def started(m: ModuleType) -> CheckedScenario:
    requested = m.RolloutRequested(
        rollout_id="r1", version="v2", regions=["eu", "us"], budget=Decimal("10"), deadline=DEADLINE
    )
    return CheckedScenario(m).given(requested)


def test_a_request_sets_data_emits_deploy_and_each_region_reads_the_data(m: ModuleType) -> None:
    s = started(m)

    start = s.planned("Control", "start")
    assert start.data_set == {"version": "v2", "budget": "10", "deadline": "2026-01-02T12:00:00Z"}
    deploys = [s.planned(region, "deploy") for region in ("eu", "us")]
    assert [d.task_input for d in deploys] == [
        {"region": region, "version": "v2", "cost": "10"} for region in ("eu", "us")
    ]
    assert [d.instance_set for d in deploys] == [{"attempts": 1}, {"attempts": 1}]
    (raised,) = s.of_type("SignalRaised")
    assert (raised.signal, raised.payload) == ("Deploy", {"regions": ["eu", "us"], "weight": "2"})
    (timer,) = s.of_type("TimerScheduled")
    assert (timer.transition, timer.due_at) == ("timeout", DEADLINE)
    assert s.state.data == m.RolloutData(version="v2", budget=Decimal(10), deadline=DEADLINE)
    assert s.state.instance_data["Region"]["eu"] == m.RegionData(attempts=1)


def test_guards_on_one_outcome_are_tried_in_order(m: ModuleType) -> None:
    s = started(m)

    healthy = s.when(s.completed(s.planned("eu", "deploy"), {"healthy": True}))
    unhealthy = s.when(s.completed(s.planned("us", "deploy"), {"healthy": False}))

    assert steps(healthy)[0] == ("healthy", "eu", {"healthy": []}, None)
    # `healthy` turned away (the result is not healthy), `unhealthy` holds
    # (one attempt so far): its deadline is read from the data just set.
    retry_at = {"retry_at": "2026-01-02T12:00:00Z"}
    assert steps(unhealthy)[0] == ("unhealthy", "us", None, retry_at)
    retry = [t for t in s.of_type("TimerScheduled") if t.transition == "retry"]
    assert [(t.machine_id, t.due_at) for t in retry] == [("us", DEADLINE)]


def test_a_failure_raises_rollback_which_aborts_the_rollout(m: ModuleType) -> None:
    s = started(m)

    decisions = s.when(s.failed(s.planned("us", "deploy"), reason="no capacity"))

    assert steps(decisions) == [
        ("broken", "us", {"failures": 1}, None),
        ("raised", "Rollback", {"reason": "no capacity"}),
        # Control's `*` row: its guard reads the failure just recorded.
        ("failed", "Control", None, None),
        # Broadcast to every Region instance still deploying: `eu` keeps its
        # task in flight and starts the undo.
        ("roll_back", "eu", None, None),
        ("ProcessFailed",),
    ]
    assert s.planned("eu", "roll_back").task_input == {"region": "eu", "version": "v2"}
    assert s.state.data.failures == 1
