"""``decide_and_fold`` decides today what it decided when the golden digests were recorded.

The engine's fast paths (``engine._Step.plain`` and what is specialised for
it once per definition) are checked against the generic path by
``test_plain_steps``; this test pins both to the past: the same walk over
every example and the processes of the replay property (input events, task
outcomes, lease reports and fired timers, the clock moving) must record the
same events (class, JSON, ids) and fold to the same states as when
``golden/decisions.json`` was written, before the engine was specialised.

A deliberate change of what is decided updates the file:
``PMC_GOLDEN_UPDATE=1 pytest tests/engine/test_golden_decisions.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from pmc.runtime import ProcessState
from pmc.runtime.engine import decide_and_fold
from tests.engine.test_plain_steps import SOURCES, Walk, events_of, shape

GOLDEN = Path(__file__).parent / "golden" / "decisions.json"
STEPS = 300


def walked(name: str) -> dict[str, object]:
    """The digest of a fixed walk of ``name``: every decided event, and the state after each."""
    walk = Walk(name)
    digest = hashlib.sha256()
    decided = 0
    for number in range(STEPS):
        if number % 7 == 6:
            walk.now += timedelta(seconds=number * 97)
        for event in events_of(walk, (number % 11, number * 7919 % 10_000)):
            if walk.state.ended:
                walk.state, walk.stream = walk.defn.initial_state(), []
            meta = walk.meta(number)
            events, state = decide_and_fold(walk.defn, walk.state, event, meta)
            for built in events:
                digest.update(f"{type(built).__name__} {built.model_dump_json()}\n".encode())
            digest.update(f"{fingerprint(state)!r}\n".encode())
            decided += len(events)
            walk.stream += [event, *events]
            walk.state = state
    return {"events": decided, "sha256": digest.hexdigest()}


def fingerprint(state: ProcessState) -> list[object]:
    """Every field of ``state``, its maps in order (``repr`` would list
    ``single_instance``, a set of strings, in an order that varies between runs)."""
    records = [(machine, list(ids.items())) for machine, ids in state.instance_data.items()]
    ends = [state.key, state.version, state.end, state.end_reason, state.data]
    return [*shape(state), records, sorted(state.single_instance), *ends]


def test_the_golden_file_covers_every_process() -> None:
    assert sorted(json.loads(GOLDEN.read_text(encoding="utf-8"))) == sorted(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_walk_decides_what_it_decided_when_recorded(name: str) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    found = walked(name)
    if os.environ.get("PMC_GOLDEN_UPDATE"):
        golden[name] = found
        GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert found["events"] > 0, "the walk decides something"
    assert found == golden[name], (
        f"{name}: the engine decides otherwise than when the digests were recorded; "
        "tests/engine/test_plain_steps.py and test_plain_step_paths.py compare the fast "
        "path with the generic one event by event (PMC_GOLDEN_UPDATE=1 records a deliberate change)"
    )
