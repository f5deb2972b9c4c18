"""``pmc`` as a test runs it: in a subprocess (the real command) or in this process (fast).

Both answer a ``Run``: the exit code and stdout and stderr kept apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str


def pmc_process(
    *args: str,
    cwd: Path,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Run:
    """The real command, ``python -m pmc``, in a subprocess started in ``cwd``."""
    completed = subprocess.run(
        [sys.executable, "-m", "pmc", *args],
        input=stdin,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def pmc_here(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Run:
    """The same app in this process; ``cwd`` the current directory while it runs."""
    from pmc.cli import app

    with _current_directory(cwd):
        result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@contextmanager
def _current_directory(directory: Path | None) -> Iterator[None]:
    if directory is None:
        yield
        return
    previous = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)
