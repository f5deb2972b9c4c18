"""The real CLI entry point, run in-process: fast enough for property tests."""

from __future__ import annotations

import contextlib
import io

from pmc.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``pmc ARGS...``."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(list(args))
        except SystemExit as exit:
            code = exit.code
        else:  # pragma: no cover - main always exits
            code = None
    assert isinstance(code, int)
    return code, stdout.getvalue(), stderr.getvalue()
