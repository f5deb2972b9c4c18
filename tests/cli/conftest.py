from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_run import Run, pmc_process

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


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
        return pmc_process(*args, cwd=cwd or tmp_path, stdin=stdin, env=env)

    return run
