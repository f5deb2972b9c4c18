"""Inputs `pmc check` accepts give modules that type-check and run (issue #8, item 13)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pmc.runtime import EventMeta
from tests.codegen.support import compile_text, import_code
from tests.codegen.test_generated_code import all_modules

# `int` fits `Decimal` (PM0603): from an event field, an optional one, and the key.
INT_INTO_DECIMAL = """
process Pricing {
    key order_id
    event Priced { order_id: int  cents: int  tip: int | None = none }
    task Charge sync {
        amount: Decimal
        tip: Decimal | None
        order: Decimal
    }
    machine Order {
        states Open, Charging, Paid, Failed
        initial Open
        final Paid, Failed
        transition charge: Open -> Charging on Priced
            run Charge(amount = event.cents, tip = event.tip, order = key)
        transition paid: Charging -> Paid on Charge completed
        transition failed: Charging -> Failed on Charge failed
    }
}
"""


def test_an_int_bound_to_a_decimal_field_is_converted() -> None:
    code = compile_text(INT_INTO_DECIMAL)
    assert "amount=Decimal(_event.cents)" in code
    assert "tip=None if _event.tip is None else Decimal(_event.tip)" in code
    assert "order=Decimal(_key)" in code
    module = import_code(code)
    meta = EventMeta(uuid.UUID(int=1), datetime(2026, 1, 1, tzinfo=UTC), "7")
    state = module.DEFINITION.initial_state()
    for tip in (3, None):
        event = module.Priced(order_id=7, cents=250, tip=tip)
        [planned] = module.DEFINITION.decide(state, event, meta)
        assert planned.task_input == {
            "amount": "250",
            "tip": None if tip is None else "3",
            "order": "7",
        }


@pytest.mark.slow
def test_an_int_bound_to_a_decimal_field_passes_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "pricing.py").write_text(compile_text(INT_INTO_DECIMAL), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "pricing.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_modules_pass_ruff_format_at_its_defaults(tmp_path: Path) -> None:
    """A project with no ruff configuration formats at 88 columns: the modules pass as they are."""
    for name, code in all_modules().items():
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--check", "--diff", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
