"""The broadcast rule: a plain trigger on a many-instance machine (SPEC §6, "Signals").

It addresses every existing instance, in the order they were created, moves
those whose state accepts it, and creates none.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.codegen.support import compile_and_import
from tests.compat.support import released_module
from tests.engine.processes import PICKING
from tests.engine.scenario import Scenario


@pytest.fixture(scope="module")
def picking() -> ModuleType:
    return compile_and_import(PICKING)


def added(m: ModuleType, *items: str) -> list[Any]:
    return [m.ItemAdded(order_id="r1", item=item) for item in items]


def test_a_broadcast_moves_only_the_instances_whose_state_accepts_it(
    picking: ModuleType,
) -> None:
    s = Scenario(picking).given(
        *added(picking, "C", "A", "B"), picking.PickingStarted(order_id="r1", item="A")
    )

    decisions = s.when(picking.OrderCancelled(order_id="r1"))

    # In the order the items were added, not sorted; `A` is Picking: untouched.
    assert [(d.machine_id, d.transition, d.task, d.task_input) for d in decisions] == [
        ("C", "cancel", "Restock", {"item": "C"}),
        ("B", "cancel", "Restock", {"item": "B"}),
    ]
    assert dict(s.state.instances_of("Item")) == {
        "C": "Restocking",
        "A": "Picking",
        "B": "Restocking",
    }


def test_a_broadcast_creates_no_instance(picking: ModuleType) -> None:
    s = Scenario(picking).given(*added(picking, "A"))

    s.when(picking.OrderCancelled(order_id="r1"))

    assert list(s.state.instances_of("Item")) == ["A"]


def test_a_broadcast_no_instance_accepts_is_ignored(picking: ModuleType) -> None:
    s = Scenario(picking).given(
        *added(picking, "A"), picking.PickingStarted(order_id="r1", item="A")
    )
    before = s.state

    assert s.when(picking.OrderCancelled(order_id="r1")) == []
    assert s.state.instances == before.instances


def test_a_broadcast_to_no_instance_at_all_is_ignored(picking: ModuleType) -> None:
    s = Scenario(picking)

    assert s.when(picking.OrderCancelled(order_id="r1")) == []
    assert dict(s.state.instances_of("Item")) == {}


def test_a_replay_of_the_stream_rebuilds_the_broadcasts_state(picking: ModuleType) -> None:
    s = Scenario(picking).given(*added(picking, "B", "A"), picking.OrderCancelled(order_id="r1"))
    replica = compile_and_import(PICKING)  # other classes, a fresh definition

    stored = [
        getattr(replica, type(e).__name__).model_validate_json(e.model_dump_json())
        for e in s.stream
    ]
    replayed = replica.DEFINITION.__class__().fold(stored)

    assert replayed == s.state
    assert list(replayed.instances_of("Item")) == ["B", "A"]


def test_a_broadcast_module_of_pmc_0_3_0_still_runs() -> None:
    # pmc 0.3.0 generated API 3 for a broadcast, with binders of (event,
    # machine_id, key), as pmc does still; the second edition's (API 4)
    # take a Scope.
    released = released_module("v0_3_0", "picking")
    s = Scenario(released).given(
        *added(released, "A", "B"), released.PickingStarted(order_id="r1", item="A")
    )

    decisions = s.when(released.OrderCancelled(order_id="r1"))

    assert released.DEFINITION.api == 3
    assert [(d.machine_id, d.task_input) for d in decisions] == [("B", {"item": "B"})]
    assert s.planned("A", "start").task_input == {"item": "A"}
