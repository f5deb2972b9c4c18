"""One invalid ``.pm`` per diagnostic code; its text and JSON output are snapshotted.

A fixture is named ``PMxxxx_what_is_wrong.pm``; the code in its name must be
reported. ``pytest --snapshot-update`` rewrites the snapshots after an
intended change of wording; review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from typer.testing import CliRunner

from pmc.cli import app
from pmc.compiler import check_source
from pmc.diagnostics import CODES
from pmc.diagnostics.render import DiagnosticReport, render_json, render_text
from pmc.source import SourceFile

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FILES = sorted(FIXTURES.glob("PM*.pm"))


def _code_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def _check(path: Path) -> DiagnosticReport:
    source = SourceFile(path.name, path.read_text(encoding="utf-8"))
    return DiagnosticReport(source, check_source(source).diagnostics)


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_reports_its_code(fixture: Path, snapshot: SnapshotAssertion) -> None:
    report = _check(fixture)
    codes = [d.id for d in report.diagnostics]
    assert _code_of(fixture) in codes, f"{fixture.name} reported {codes}"
    assert render_text(report) == snapshot(name="text")
    assert json.loads(render_json([report])) == snapshot(name="json")


# Reported by the CLI about a file it cannot read, never about a source's text:
# tests/cli/test_check.py covers it.
NOT_ABOUT_TEXT = {"PM0007"}


def test_every_active_code_has_a_fixture() -> None:
    covered = {_code_of(path) for path in FIXTURE_FILES} | NOT_ABOUT_TEXT
    active = {code for code, entry in CODES.items() if not entry.retired}
    assert sorted(active - covered) == []


def test_fixture_names_use_registered_codes() -> None:
    assert sorted({_code_of(p) for p in FIXTURE_FILES} - set(CODES)) == []


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_exit_codes(fixture: Path) -> None:
    """Errors exit 1; a fixture whose code is a warning exits 0, and 1 with --strict."""
    runner = CliRunner()
    plain = runner.invoke(app, ["check", str(fixture)])
    strict = runner.invoke(app, ["check", "--strict", str(fixture)])
    assert f"[{_code_of(fixture)}]" in plain.stderr
    if CODES[_code_of(fixture)].severity == "warning":
        assert (plain.exit_code, strict.exit_code) == (0, 1)
    else:
        assert (plain.exit_code, strict.exit_code) == (1, 1)
