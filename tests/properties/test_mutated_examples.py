"""Broken text, as an editor sees it mid-typing: never a crash, always a diagnostic.

Each example under `examples/` is edited at random (tokens deleted, duplicated
or swapped, the text cut short, stray characters inserted) and checked.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from pmc.compiler import check_source
from pmc.source import SourceFile
from pmc.syntax.grammar import parser
from pmc.syntax.parser import parse
from tests.properties.cli import run_cli
from tests.properties.strategies import EXAMPLE_TEXTS, mutated_examples, tokens
from tests.syntax.helpers import leaked_lark_words

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def within(source: SourceFile, line: int, column: int) -> bool:
    """A position inside the text, or just past the end of a line."""
    return 1 <= line <= source.line_count and 1 <= column <= len(source.line_text(line)) + 1


@SETTINGS
@given(mutated_examples())
def test_checking_broken_text_never_raises(text: str) -> None:
    note(f"text = {text!r}")
    source = SourceFile("mutated.pm", text)
    result = check_source(source)
    for diagnostic in result.diagnostics:
        span = diagnostic.span
        assert within(source, span.line, span.column), diagnostic
        assert (span.line, span.column) < (span.end_line, span.end_column), diagnostic
        for label in diagnostic.labels:
            assert within(source, label.span.line, label.span.column), diagnostic
        assert leaked_lark_words(diagnostic.message) == [], diagnostic


@SETTINGS
@given(mutated_examples())
def test_whatever_lark_parses_parses(text: str) -> None:
    # The parser drives lark token by token and lets a keyword that cannot go
    # somewhere stand as a name: it may accept more than lark, never less.
    note(f"text = {text!r}")
    try:
        parser().parse(text)
    except UnexpectedInput:
        return
    codes = {d.id for d in parse(SourceFile("mutated.pm", text)).diagnostics}
    assert codes <= {"PM0005", "PM0006"}


@SETTINGS
@given(mutated_examples(max_edits=1))
def test_one_edit_makes_at_most_one_syntax_error(text: str) -> None:
    # After a syntax error the parser blanks the broken statement and looks
    # for more; a second error from a single edit would be a cascade.
    note(f"text = {text!r}")
    assert len(parse(SourceFile("mutated.pm", text)).diagnostics) <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_examples(), st.sampled_from(["text", "json", "github"]))
def test_the_cli_reports_broken_text_without_a_traceback(text: str, output_format: str) -> None:
    note(f"text = {text!r}")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "mutated.pm"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, stdout, stderr = run_cli("check", "--format", output_format, str(path))
    # 2 would be an I/O or internal error: neither may happen on readable text.
    assert code in (0, 1), stderr
    assert "Traceback" not in stdout + stderr
    assert "internal error" not in stderr


def test_the_mutation_tokenizer_loses_nothing() -> None:
    assert all("".join(tokens(text)) == text for text in EXAMPLE_TEXTS)
