"""A testing kit for process authors: scenarios on the real runtime, scripted tasks, a fake clock.

    from pmc.testing import Scenario, fail, succeed

    def test_three_declines_fail_the_dunning() -> None:
        with Scenario(dunning) as s:
            s.script("ChargeCard", fail("insufficient_funds"))
            s.given(overdue)
            s.advance(timedelta(days=3)).advance(timedelta(days=3))
            s.expect_end("failed", reason="data.declines >= 3 holds")

See docs/testing.md. ``pmc.testing.plugin`` is the pytest plugin (fixtures
``scenario``, ``pmc_clock``, ``pmc_store``, ``pmc_sqlite_store``,
``pmc_manager``, ``pmc_worker``), loaded by pytest through the ``pytest11``
entry point. The kit imports the runtime, never the other way round.

Its names are loaded on first use: pytest imports ``pmc.testing.plugin``
(and so this package) in every run, which must not pay for the runtime.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmc.testing.clock import START, ClockError, FakeClock
    from pmc.testing.scenario import (
        ExpectationFailed,
        MakeScenario,
        Scenario,
        ScenarioError,
    )
    from pmc.testing.tasks import (
        Call,
        FakeTasks,
        Outcome,
        ScriptedFailure,
        ScriptError,
        fail,
        raises,
        run,
        succeed,
        time_out,
    )

_LAZY = {
    **dict.fromkeys(["START", "ClockError", "FakeClock"], "pmc.testing.clock"),
    **dict.fromkeys(
        ["ExpectationFailed", "MakeScenario", "Scenario", "ScenarioError"],
        "pmc.testing.scenario",
    ),
    **dict.fromkeys(
        [
            "Call",
            "FakeTasks",
            "Outcome",
            "ScriptedFailure",
            "ScriptError",
            "fail",
            "raises",
            "run",
            "succeed",
            "time_out",
        ],
        "pmc.testing.tasks",
    ),
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (see above)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "START",
    "Call",
    "ClockError",
    "ExpectationFailed",
    "FakeClock",
    "FakeTasks",
    "MakeScenario",
    "Outcome",
    "Scenario",
    "ScenarioError",
    "ScriptError",
    "ScriptedFailure",
    "fail",
    "raises",
    "run",
    "succeed",
    "time_out",
]
