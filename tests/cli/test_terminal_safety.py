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


# ---- messages that are not diagnostics: paths and arguments -----------------------

PATH_HOSTILE = "no\x1b[31mpe\u202e"
VALID = (
    "process P { key id event Go { id: str } machine M { states A, B initial A final B "
    "transition t: A -> B on Go } start on Go }\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["check", f"{PATH_HOSTILE}.pm"],
        ["compile", f"{PATH_HOSTILE}.pm"],
        ["fmt", f"{PATH_HOSTILE}.pm"],
        ["graph", f"{PATH_HOSTILE}.pm"],
        ["breaking", "ok.pm", "--against", f"git:HEAD:{PATH_HOSTILE}.pm"],
        ["breaking", "ok.pm", "--against", f"{PATH_HOSTILE}.pm"],
        ["explain", f"PM{PATH_HOSTILE}"],
        ["graph", "--machine", PATH_HOSTILE, "ok.pm"],
        ["compile", "x\x1b[31m.pm"],
        ["compile", "x\x1b[31m.pm", "-o", "out.py"],
        ["fmt", "--check", "x\x1b[31m.pm"],
        ["fmt", "x\x1b[31m.pm"],
    ],
    ids=lambda args: " ".join(a.encode("unicode_escape").decode() for a in args),
)
def test_paths_and_arguments_in_messages_are_escaped(
    pmc: PmcRunner, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "ok.pm").write_text(VALID, encoding="utf-8")
    (tmp_path / "x\x1b[31m.pm").write_text(VALID.replace("{ id", "{  id"), encoding="utf-8")
    run = pmc(*args)
    output = run.stdout + run.stderr
    assert output.strip()
    assert "\x1b" not in output
    assert "\u202e" not in output
    assert "\\x1b" in output
