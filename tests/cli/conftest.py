from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str


PmcRunner = Callable[..., Run]


@pytest.fixture
def pmc(tmp_path: Path) -> PmcRunner:
    """Run the real ``pmc`` command in a subprocess, stdout and stderr kept apart."""

    def run(
        *args: str,
        stdin: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Run:
        completed = subprocess.run(
            [sys.executable, "-m", "pmc", *args],
            input=stdin,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            timeout=120,
        )
        return Run(completed.returncode, completed.stdout, completed.stderr)

    return run
