"""The hand-written API 3 modules decide exactly as the modules pmc generates from their sources.

The engine tests run on ``ed2_dunning`` and ``ed2_trip``, written by hand
so the engine could be tested before codegen existed; each module's
docstring is its `.pm` source. Compiled (under another process name, so
event-sourcery keeps one class per event name), the generated module must
record the same decisions on the same events, so every engine test holds
for generated code too.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest

from tests.codegen.support import compile_and_import
from tests.engine import ed2_dunning, ed2_trip
from tests.engine.ed2_scenario import CheckedScenario

LATER = datetime(2026, 1, 3, 9, 30, tzinfo=UTC)


def source_of(module: ModuleType) -> str:
    """The `.pm` source in a module's docstring, renamed from ``Ed<X>`` to ``Pm<X>``."""
    doc = module.__doc__ or ""
    start = doc.index("    process Ed")
    end = doc.index("\n    }\n", start) + len("\n    }\n")
    return textwrap.dedent(doc[start:end]).replace("process Ed", "process Pm", 1)


def recorded(s: CheckedScenario) -> list[tuple[str, dict[str, Any]]]:
    """The stream as JSON, without the task and timer ids (they derive from the category).

    Both scenarios give their events the same ids, so ``caused_by`` (an
    event's id or a ``SignalRaised``'s, derived from it) compares as it is.
    """
    derived = {"task_id", "timer_id", "kept_tasks"}
    return [
        (type(event).__name__, event.model_dump(mode="json", exclude=derived)) for event in s.stream
    ]


Script = Callable[[CheckedScenario], None]


def dunning_script(s: CheckedScenario) -> None:
    m = s.m
    s.when(m.Opened(invoice_id="r1", retry_at=None))
    charge = s.planned("Billing", "charge")
    s.when(s.completed(charge, {"code": "soft", "retry_at": LATER}))
    s.when(m.Swap(invoice_id="r1"))
    s.when(m.Paid(invoice_id="r1", paid_invoice="other"))
    (timer,) = s.of_type("TimerScheduled")
    s.fired(timer)
    s.when(m.Hold(invoice_id="r1"))
    s.when(s.completed(s.planned("Billing", "retry"), {"code": "ok", "retry_at": None}))


def trip_script(s: CheckedScenario) -> None:
    m = s.m
    s.when(m.Booked(trip_id="r1", legs=["a", "b", "c"]))
    s.when(m.Forget(trip_id="r1", leg="z"))
    s.when(m.LegFailed(trip_id="r1", leg="b"))
    s.when(m.Done(trip_id="r1"))


@pytest.mark.parametrize(
    ("written", "script"),
    [(ed2_dunning, dunning_script), (ed2_trip, trip_script)],
    ids=["dunning", "trip"],
)
def test_the_generated_module_records_what_the_hand_written_one_does(
    written: ModuleType, script: Script
) -> None:
    generated = compile_and_import(source_of(written))
    by_hand, by_pmc = CheckedScenario(written), CheckedScenario(generated)

    script(by_hand)
    script(by_pmc)

    assert recorded(by_pmc) == recorded(by_hand)
    assert by_pmc.state.data.model_dump() == by_hand.state.data.model_dump()
    assert len(by_hand.stream) > 10
