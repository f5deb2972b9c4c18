"""`pmc lsp` without the `lsp` extra: a clear error, not a traceback."""

from __future__ import annotations

import subprocess
import sys

# pmc's entry point with pygls made unimportable, as where the extra is not installed.
WITHOUT_PYGLS = """
import sys
sys.modules["pygls"] = None
from pmc.cli import main
main(["lsp"])
"""


def test_without_pygls_pmc_lsp_says_which_extra_to_install() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYGLS], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 2
    assert done.stderr == (
        "error: pmc lsp needs pygls, which is not installed\n"
        "help: pip install 'event-sourcery-pmc[lsp]'\n"
    )


def test_pmc_lsp_accepts_stdio_which_it_always_speaks() -> None:
    # vscode-languageclient adds `--stdio` to the command when told to use stdio.
    done = subprocess.run(
        [sys.executable, "-m", "pmc", "lsp", "--stdio"],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "No such option" not in done.stderr
    assert done.returncode == 0
