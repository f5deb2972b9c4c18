"""No command prints a `.pm` file's control or bidi characters raw (issue #8, item 12)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from tests.cli.conftest import PmcRunner

# Retitles the terminal, clears it, hides what follows; reverses the line.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[8m\u202e\u2066\x9b"
TEXT = (
    "process P {\n"
    f"    key id  # {HOSTILE}\n"
    f"    event Go {{ id: str  note: Strng }}  # {HOSTILE}\n"
    f"    @{HOSTILE}\n"
    "}\n"
)


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["check", "--format", "concise"],
        ["check", "--format", "github"],
        ["check", "--format", "json"],
        ["compile"],
        ["compile", "--format", "github"],
        ["fmt", "--check"],
        ["graph"],
        ["breaking", "--against", "old.pm"],
    ],
    ids=" ".join,
)
def test_diagnostics_show_escapes_not_control_characters(
    pmc: PmcRunner, tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "hostile.pm").write_text(TEXT, encoding="utf-8")
    (tmp_path / "old.pm").write_text(TEXT, encoding="utf-8")
    run = pmc(*command, "hostile.pm")
    assert run.exit_code != 0
    output = run.stdout + run.stderr
    assert "hostile.pm" in output
    assert _raw_controls(output) == []
    if "--format" not in command:  # the text format shows the source line
        assert "\\x1b" in output
