"""The grammar itself: LALR(1) without conflicts, and every example parses."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark
from lark.exceptions import GrammarError

from pmc.source import SourceFile
from pmc.syntax.grammar import build_parser, grammar_text
from pmc.syntax.parser import parse

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.pm"))


def test_the_grammar_has_no_conflicts() -> None:
    # strict=True turns shift/reduce and reduce/reduce conflicts, and terminals
    # that collide (two regexps matching the same text), into errors.
    build_parser(strict=True)


def test_strict_mode_would_catch_a_conflict() -> None:
    # `type` already derives `NAME`; a second way to reach it is a conflict.
    ambiguous = grammar_text().replace("type: type_atom", "type: NAME | type_atom", 1)
    assert ambiguous != grammar_text()
    with pytest.raises(GrammarError):
        Lark(ambiguous, parser="lalr", lexer="contextual", strict=True)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_parses(path: Path) -> None:
    result = parse(SourceFile(path.name, path.read_text(encoding="utf-8")))
    assert result.diagnostics == ()
    assert result.module is not None
