"""The last step of code generation: the pinned ruff formats the rendered text.

The templates write each bracketed list on one line, without a trailing
comma; the formatter breaks what does not fit, so long names and long
literals are laid out exactly as ``ruff format`` lays them out. It runs in
isolated mode with a fixed line length, so no configuration file of the
user's (``pyproject.toml``, ``ruff.toml``) can change the output: same input, same bytes.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache

from pmc.errors import PmcError

# Keep in step with the ruff pin in pyproject.toml (a main dependency).
RUFF_VERSION = "0.17.6"
LINE_LENGTH = 88  # ruff's default: the output passes a plain `ruff format --check`
_TIMEOUT_SECONDS = 60


class CodegenError(PmcError):
    """The generated module could not be produced (the formatter is missing or failed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot generate code: {reason}")


def _ruff_command(filename: str) -> list[str]:
    return [
        _ruff_bin(),
        "format",
        "--isolated",
        "--line-length",
        str(LINE_LENGTH),
        # One argument: a name starting with `-` (`--x.py`) would otherwise
        # be read as an option.
        f"--stdin-filename={filename}",
        "-",
    ]


@cache
def _ruff_bin() -> str:
    try:
        from ruff import find_ruff_bin  # the binary of the ruff package pmc depends on
    except ImportError as error:
        raise CodegenError(
            f"cannot format the generated module: ruff is not installed "
            f"(pmc needs ruff=={RUFF_VERSION})"
        ) from error
    try:
        return str(find_ruff_bin())
    except FileNotFoundError as error:
        raise CodegenError(
            f"cannot format the generated module: the ruff executable was not found ({error})"
        ) from error


def module_filename(source_name: str) -> str:
    """A ``.py`` name for ruff's messages: the source's stem, reduced to safe characters."""
    stem = source_name.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".pm")
    return (re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "generated") + ".py"


def format_module(text: str, *, filename: str) -> str:
    """``text`` as ``ruff format --isolated`` writes it; raises :class:`CodegenError`."""
    try:
        done = subprocess.run(
            _ruff_command(filename),
            input=text.encode("utf-8", errors="surrogatepass"),
            capture_output=True,
            timeout=_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CodegenError(f"cannot run ruff to format {filename}: {error}") from error
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip()
        raise CodegenError(
            f"ruff could not format the generated module {filename} "
            f"(a bug in pmc; please report it): {message or f'exit code {done.returncode}'}"
        )
    return done.stdout.decode("utf-8", errors="surrogatepass")
