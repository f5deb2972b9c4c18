"""examples/rebase_cleanup.pm with pmc.testing: one instance closed per machine, retried.

examples/run_rebase_cleanup.py runs it with workers in threads; here each
instance's close is scripted, and time moves only as the test says.
"""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any

from pmc.testing import MakeScenario, fail, succeed, time_out
from tests.examples.support import example

Make = MakeScenario


def cleanup() -> ModuleType:
    return example("rebase_cleanup")


def failed() -> Any:
    return cleanup().RebaseFailed(rebase_id="r1", instances=["A", "B", "C"])


def test_every_instance_is_closed_a_refused_close_retried_after_its_backoff(
    scenario: Make,
) -> None:
    s = scenario(cleanup()).script("CloseInstance", succeed())
    s.script("CloseInstance", fail("instance busy"), succeed(), machine_id="B")

    s.when(failed())
    s.expect_tasks(*[("CloseInstance", {"reason": "rebase failed"})] * 3)
    s.expect_states(Instance={"A": "Closed", "B": "Closing", "C": "Closed"})

    s.advance(timedelta(seconds=2))  # `retry 3 backoff 2s`

    s.expect_transitions("Instance[B]: Closing -> Closed (closed)").expect_end("completed")
    assert [(c.machine_id, c.attempt) for c in s.tasks.calls() if c.machine_id == "B"] == [
        ("B", 1),
        ("B", 2),
    ]


def test_a_close_that_times_out_every_time_fails_the_cleanup_once_its_retries_are_spent(
    scenario: Make,
) -> None:
    s = scenario(cleanup()).script("CloseInstance", succeed())
    s.script("CloseInstance", time_out(), machine_id="C")

    s.when(failed())
    s.advance(timedelta(minutes=10))

    s.expect_end("failed", reason="Instance C is in Failed")
    s.expect_states(Instance={"A": "Closed", "B": "Closed", "C": "Failed"})
    assert [c.attempt for c in s.tasks.calls() if c.machine_id == "C"] == [1, 2, 3, 4]
