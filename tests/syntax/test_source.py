"""``SourceFile``: line endings normalized, so every stage sees LF lines."""

from __future__ import annotations

import pytest

from pmc.source import SourceFile
from pmc.syntax.parser import parse
from tests.syntax.reference import REFERENCE


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_crlf_and_lone_cr_end_lines(ending: str) -> None:
    source = SourceFile("x.pm", f"a{ending}b  # comment{ending}{ending}c")
    assert source.text == "a\nb  # comment\n\nc"
    assert source.line_endings_normalized
    assert source.line_count == 4
    assert [source.line_text(n) for n in (1, 2, 3, 4)] == ["a", "b  # comment", "", "c"]
    assert source.position(source.text.rindex("c")) == (4, 1)


def test_lf_text_is_kept_as_it_is() -> None:
    source = SourceFile("x.pm", "a\nb\n")
    assert source.text == "a\nb\n"
    assert not source.line_endings_normalized


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_a_file_with_cr_line_endings_parses_like_its_lf_twin(ending: str) -> None:
    lf = parse(SourceFile("lf.pm", REFERENCE))
    other = parse(SourceFile("other.pm", REFERENCE.replace("\n", ending)))
    assert lf.diagnostics == other.diagnostics == ()
    assert lf.module == other.module  # spans and comments included
