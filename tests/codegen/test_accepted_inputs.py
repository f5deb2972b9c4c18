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
from tests.properties.names import mypy_strict

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


def mypy_strict_on(code: str, directory: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    path = directory / "module.py"
    path.write_text(code, encoding="utf-8")
    return mypy_strict([path], cache)


@pytest.mark.slow
def test_an_int_bound_to_a_decimal_field_passes_mypy_strict(
    tmp_path: Path, mypy_cache: Path
) -> None:
    done = mypy_strict_on(compile_text(INT_INTO_DECIMAL), tmp_path, mypy_cache)
    assert done.returncode == 0, done.stdout + done.stderr


# A none test narrows the rest of its `and` / `or` (semantics), and mypy
# narrows the generated `_s.data.due is not None and _s.data.due < ...` alike:
# in a guard, a binding and a `set` value; `data`, `instance` and `event` fields.
NARROWED = """process Reminders {
    key id
    data {
        due: datetime | None
        late: bool = false
        limit: Decimal | None
    }
    event Planned { id: str  due: datetime }
    event Tick { id: str  at: datetime  note: str | None = none }
    task Notify sync { late: bool  note: str = "" }
    machine Reminder {
        data { seen: int | None }
        states Waiting, Late, Done
        initial Waiting
        final Done
        transition plan: Waiting -> Waiting on Planned set data.due = event.due
        transition overdue: Waiting -> Late on Tick
            when data.due is not none and data.due < event.at
                and (instance.seen == none or instance.seen > 2)
                and not (data.limit is none) and data.limit > 1.5
                and (event.note is none or len(event.note) > 0)
            run Notify(
                late = data.due == none or data.due < event.at,
                note = "x")
            set data.late = data.due is not none and event.at >= data.due,
                instance.seen = 3
        transition tick: Waiting -> Waiting on Tick
        transition done: Late -> Done on Notify completed
        transition failed: Late -> Done on Notify failed
    }
}
"""


@pytest.mark.slow
def test_values_narrowed_by_a_none_test_pass_mypy_strict(tmp_path: Path, mypy_cache: Path) -> None:
    done = mypy_strict_on(compile_text(NARROWED), tmp_path, mypy_cache)
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
