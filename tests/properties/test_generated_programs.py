"""Programs drawn from the grammar: the parser takes them, the checker never crashes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from pmc.compiler import check_source
from pmc.source import SourceFile
from pmc.syntax.parser import parse
from tests.properties.cli import run_cli
from tests.properties.strategies import programs

SYNTAX_ERRORS = {"PM0001", "PM0002", "PM0003", "PM0004"}

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SETTINGS
@given(programs())
def test_the_parser_accepts_what_the_grammar_derives(text: str) -> None:
    result = parse(SourceFile("generated.pm", text))
    # Limits (PM0005) and out-of-range literals (PM0006) may still apply.
    assert {d.id for d in result.diagnostics} & SYNTAX_ERRORS == set(), (
        text,
        result.diagnostics,
    )
    assert (result.module is None) == bool(result.diagnostics)


@SETTINGS
@given(programs())
def test_checking_a_derived_program_never_raises(text: str) -> None:
    note(f"text = {text!r}")
    result = check_source(SourceFile("generated.pm", text))
    assert all(d.span.line >= 1 and d.span.column >= 1 for d in result.diagnostics)
    assert (result.model is None) == any(d.severity == "error" for d in result.diagnostics)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(programs(), st.sampled_from(["text", "concise", "json", "github"]))
def test_the_cli_checks_a_derived_program_without_a_traceback(
    text: str, output_format: str
) -> None:
    note(f"text = {text!r}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "generated.pm"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, stdout, stderr = run_cli("check", "--format", output_format, str(path))
    assert code in (0, 1, 2), stderr
    assert "Traceback" not in stdout + stderr
    assert "internal error" not in stdout + stderr
