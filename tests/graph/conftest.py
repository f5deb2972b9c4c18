"""CLI runners: the real ``pmc`` in a subprocess, and the same app in-process.

The in-process runner saves a Python start and a grammar build per call, so
most CLI tests use it; each command keeps one test through the subprocess.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmc.cli import app
from tests.cli.conftest import (
    PmcRunner,
    Run,
    pmc,  # noqa: F401  (the subprocess fixture)
)


@contextmanager
def _inside(directory: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.fixture
def cli(tmp_path: Path) -> PmcRunner:
    """Like the ``pmc`` fixture, but calls the typer app in this process."""
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> Run:
        with _inside(cwd or tmp_path):
            result = runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return run
