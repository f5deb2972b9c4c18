"""docs/testing.md: its process compiles, its test passes, and the failure it shows is real."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from pmc.testing import ExpectationFailed, MakeScenario, fail, succeed
from tests.runtime.support import compiled

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture
def payout() -> Iterator[ModuleType]:
    """The page's process, importable as `payout` the way its test imports it."""
    [process] = _blocks("pm")
    module = compiled(process)
    sys.modules["payout"] = module
    yield module
    del sys.modules["payout"]


def test_the_test_of_the_page_passes(payout: ModuleType, scenario: MakeScenario) -> None:
    code = _blocks("python")[0]
    namespace: dict[str, object] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    [test] = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    test(scenario)


def test_the_failure_the_page_shows_is_the_one_the_kit_prints(
    payout: ModuleType, scenario: MakeScenario
) -> None:
    s = scenario(payout)
    s.script("Transfer", fail("bank busy"), succeed({"reference": "tr-1"}))
    s.when(payout.PayoutRequested(payout_id="p1", amount=100))
    s.advance(timedelta(minutes=1))

    with pytest.raises(ExpectationFailed) as failed:
        s.expect_transitions("Payment: Transferring -> Failed")

    [shown] = _blocks("text")
    assert str(failed.value) == shown.rstrip("\n")
