"""The code base itself passes the checks we ask of generated code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PATHS = ["src", "tests", "examples", "bench"]

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def test_ruff_check() -> None:
    run = _run("ruff", "check", *PATHS)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_format() -> None:
    run = _run("ruff", "format", "--check", *PATHS)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_strict_on_src() -> None:
    # Strictness and the checked files come from [tool.mypy] in pyproject.toml.
    run = _run("mypy")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "strict = true" in (REPO / "pyproject.toml").read_text(encoding="utf-8")
