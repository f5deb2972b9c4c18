"""Periodic and initial timers, unique timer ids, finite floats, and ``key_of``."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pmc.runtime import ProcessManager, contract, engine
from pmc.runtime.stores import open_store
from tests.codegen.support import compile_and_import
from tests.engine.scenario import Scenario, summary

POLL = """
process PeriodicPoll {
    key k
    event Go { k: str }
    event Stop_ { k: str }
    task Ping { k: str }
    start on Go, Stop_
    machine M {
        states Waiting, Finished, GaveUp
        initial Waiting
        final Finished, GaveUp
        transition ping: Waiting -> Waiting on after 1m
            run Ping(k = key)
        transition pong: Waiting -> Waiting on Ping completed
        transition lost: Waiting -> Waiting on Ping failed
        transition give_up: Waiting -> GaveUp on after 1h
        transition fin: Waiting -> Finished on Stop_
    }
}
"""

REGISTRY = """
process SeenRegistry {
    key k
    event Seen { k: str  id: str }
    event Confirm { k: str  id: str }
    machine Item {
        states Fresh, Confirmed, Expired
        initial Fresh
        final Confirmed, Expired
        transition seen: Fresh -> Fresh on Seen.id
        transition confirm: Fresh -> Confirmed on Confirm.id
        transition expire: Fresh -> Expired on after 1h
    }
}
"""

BOUNCE = """
process Bounce {
    key k
    event E { k: str  ids: list[str] }
    machine M {
        states A, B, C, D
        initial A
        final D
        transition ab: A -> B on E.ids
        transition bc: B -> C on E.ids
        transition cb: C -> B on E.ids
        transition wait: B -> D on after 1h
        transition wait2: C -> D on after 1h
    }
}
"""

FLOATS = """
process FiniteFloats {
    key k
    event Go { k: str  x: float  ids: list[str] }
    task T sync {
        x: float
        returns { y: float }
    }
    machine M {
        states A, B, C
        initial A
        final C
        transition go: A -> B on Go.ids
            run T(x = event.x)
        transition ok: B -> C on T completed
        transition bad: B -> C on T failed
    }
}
"""

UNKEYED = """
process Unkeyed {
    key k
    event A { k: str  target: int }
    event Unused { other: str }
    machine M {
        states S0, Done
        initial S0
        final Done
        transition go: S0 -> Done on A.target
    }
}
"""


@pytest.fixture(scope="module")
def poll() -> ModuleType:
    return compile_and_import(POLL)


@pytest.fixture(scope="module")
def registry() -> ModuleType:
    return compile_and_import(REGISTRY)


@pytest.fixture(scope="module")
def bounce() -> ModuleType:
    return compile_and_import(BOUNCE)


@pytest.fixture(scope="module")
def floats() -> ModuleType:
    return compile_and_import(FLOATS)


def timer_of(s: Scenario, transition: str) -> Any:
    (timer,) = [t for t in s.state.timers.values() if t.transition == transition]
    return timer


def replays(s: Scenario) -> bool:
    return s.definition.fold(s.stream) == s.state


# ---- periodic timers ---------------------------------------------------------------


def test_a_self_loop_on_a_timer_schedules_that_timer_again(poll: ModuleType) -> None:
    s = Scenario(poll).given(poll.Go(k="r1"))
    give_up = timer_of(s, "give_up")

    for minute in range(1, 4):
        s.advance(minutes=1)
        decisions = s.when(poll.TimerFired(timer_id=timer_of(s, "ping").timer_id))

        assert summary(decisions) == [
            ("TransitionPlanned", "M", "Waiting->Waiting", "Ping"),
            ("TimerScheduled", "M", "ping", timedelta(minutes=minute + 1)),
        ]
        # The timers that have not fired keep running, unchanged.
        assert timer_of(s, "give_up") == give_up
        assert len(s.state.timers) == 2
    assert replays(s)


def test_other_self_loops_keep_the_running_timers(poll: ModuleType) -> None:
    s = Scenario(poll).given(poll.Go(k="r1"))
    s.advance(minutes=1)
    s.given(poll.TimerFired(timer_id=timer_of(s, "ping").timer_id))
    timers = s.state.timers

    decisions = s.when(s.completed(s.planned("M", "ping")))

    assert summary(decisions) == [("TransitionPlanned", "M", "Waiting->Waiting", None)]
    assert s.state.timers == timers


# ---- initial timers of new instances -------------------------------------------------


def test_an_instance_created_by_a_self_loop_on_initial_gets_initials_timers(
    registry: ModuleType,
) -> None:
    s = Scenario(registry)

    decisions = s.when(registry.Seen(k="r1", id="a"))

    assert summary(decisions) == [
        ("TransitionPlanned", "a", "Fresh->Fresh", None),
        ("TimerScheduled", "a", "expire", timedelta(hours=1)),
    ]
    s.advance(hours=1)
    fired = s.when(registry.TimerFired(timer_id=timer_of(s, "expire").timer_id))
    assert summary(fired) == [
        ("TransitionPlanned", "a", "Fresh->Expired", None),
        ("ProcessCompleted",),
    ]
    assert replays(s)


def test_seeing_an_existing_instance_again_keeps_its_timer(registry: ModuleType) -> None:
    s = Scenario(registry).given(registry.Seen(k="r1", id="a"))
    timers = s.state.timers

    assert summary(s.when(registry.Seen(k="r1", id="a"))) == [
        ("TransitionPlanned", "a", "Fresh->Fresh", None)
    ]
    assert s.state.timers == timers


# ---- timer ids -------------------------------------------------------------------------


def test_timer_ids_are_unique_when_one_fan_out_re_enters_a_state(bounce: ModuleType) -> None:
    s = Scenario(bounce)

    decisions = s.when(bounce.E(k="r1", ids=["a"] * 5))

    ids = [e.timer_id for e in s.of_type("TimerScheduled", decisions)]
    assert len(ids) == 5
    assert len(set(ids)) == len(ids)
    assert replays(s)


def test_timer_ids_are_deterministic(bounce: ModuleType) -> None:
    def ids() -> list[Any]:
        s = Scenario(bounce)
        return [
            e.timer_id for e in s.of_type("TimerScheduled", s.when(bounce.E(k="r1", ids=["a"] * 3)))
        ]

    assert ids() == ids()


# ---- non-finite floats -------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_input_events_reject_non_finite_floats(floats: ModuleType, value: float) -> None:
    with pytest.raises(ValidationError):
        floats.Go(k="r1", x=value, ids=["a"])
    with pytest.raises(ValidationError):
        floats.Go.model_validate_json('{"k": "r1", "x": Infinity, "ids": ["a"]}')


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_task_inputs_and_results_reject_non_finite_floats(floats: ModuleType, value: float) -> None:
    with pytest.raises(ValidationError):
        floats.T(x=value)
    with pytest.raises(ValidationError):
        floats.DEFINITION.task_result("T", {"y": value})


def test_a_finite_float_round_trips_through_a_task_input(floats: ModuleType) -> None:
    manager = ProcessManager(floats.DEFINITION, open_store("memory://"))

    manager.handle(floats.Go(k="r1", x=1.5e300, ids=["a"]))

    (task,) = manager.replay("r1").tasks.values()
    assert manager.replay("r1") == manager.state("r1")
    assert floats.DEFINITION.task_input(task) == floats.T(x=1.5e300)


def test_canonical_json_refuses_non_finite_floats() -> None:
    with pytest.raises(ValueError):
        engine.canonical_json({"x": math.inf})
    assert json.loads(engine.canonical_json({"x": 1.0})) == {"x": 1.0}


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_canonical_json_is_json_dumps_sorted_and_compact(payload: dict[str, Any]) -> None:
    # The C encoder made once must write what json.dumps writes (ids hash it).
    assert engine.canonical_json(payload) == json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def test_canonical_json_without_the_c_accelerator_is_the_same() -> None:
    payload = {"b": [1.5, "é\u2028", None], "a": {"z": True}}
    plain = contract.canonical_encoder(None)  # a Python without json's C encoder
    assert "".join(plain(payload, 0)) == engine.canonical_json(payload)
    with pytest.raises(ValueError):
        "".join(plain({"x": math.inf}, 0))


# ---- key_of -----------------------------------------------------------------------------


def test_key_of_an_event_without_the_key_field_is_a_clear_type_error() -> None:
    unkeyed = compile_and_import(UNKEYED)
    manager = ProcessManager(unkeyed.DEFINITION, open_store("memory://"))

    with pytest.raises(TypeError, match=r"Unused.*'k'"):
        manager.handle(unkeyed.Unused(other="x"))
