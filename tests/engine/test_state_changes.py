"""``ProcessState.changed``: the fold's one copy per event, cheap and still immutable.

``evolve`` replaces the fields an event changes with ``changed`` instead of
``dataclasses.replace``; the copy must be a state like any other, share the
maps it did not change, and leave the state it was made from as it was.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from pmc.runtime.state import End, ProcessState, StateChanges, Timer, frozen_map

TIMER = Timer(uuid.uuid4(), "M", "M", "late", "Waiting", datetime(2026, 1, 1, tzinfo=UTC))


def a_state() -> ProcessState:
    return ProcessState(
        instances=frozen_map({"M": frozen_map({"M": "Waiting"})}),
        timers=frozen_map({TIMER.timer_id: TIMER}),
        key="k-1",
        version=3,
        single_instance=frozenset({"M"}),
    )


def test_the_changes_name_exactly_the_fields_of_a_state() -> None:
    fields = {field.name for field in dataclasses.fields(ProcessState)}
    assert set(StateChanges.__annotations__) == fields


def test_a_changed_state_equals_the_replaced_one_and_shares_what_did_not_change() -> None:
    state = a_state()
    changed = state.changed(version=4, end=End.FAILED, end_reason="late")
    assert changed == dataclasses.replace(state, version=4, end=End.FAILED, end_reason="late")
    assert type(changed) is ProcessState
    assert changed.timers is state.timers  # not copied
    assert changed.instances is state.instances


def test_the_state_it_was_made_from_is_left_as_it_was() -> None:
    state = a_state()
    before = dataclasses.replace(state)
    state.changed(version=9, key="other", timers=frozen_map())
    assert state == before
    assert state.version == 3 and state.timers[TIMER.timer_id] == TIMER


def test_a_changed_state_is_still_frozen() -> None:
    changed = a_state().changed(version=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        changed.version = 5  # type: ignore[misc]
