"""The Pygments lexer (`pygmentize -l pm`) colours every `.pm` file pmc accepts.

pmc's own front end is the judge: its comments, its lexer's strings and
numbers, and the grammar's keywords.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String, _TokenType

from pmc.compiler import check_source
from pmc.diagnostics import Severity
from pmc.highlight import PmLexer
from pmc.lsp.completion import keywords
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.grammar import parser

REPO = Path(__file__).resolve().parents[2]
PM_FILES = sorted([*(REPO / "examples").glob("*.pm"), *(REPO / "tests").rglob("*.pm")])
NUMBERS = {"INT": Number.Integer, "DECIMAL": Number.Float, "DURATION": Number}
# Where the language lets a keyword be a name (`key: str`, `event at {`), the lexer says so.
KEYWORD_OR_NAME = (
    Keyword,
    Operator.Word,
    Name.Builtin,
    Name.Attribute,
    Name.Class,
    Name.Function,
)


@cache
def accepted() -> dict[Path, ast.Module]:
    """The `.pm` files of the repository that `pmc check` accepts, parsed."""
    modules = {}
    for path in PM_FILES:
        checked = check_source(SourceFile(str(path), path.read_text(encoding="utf-8")))
        errors = [d for d in checked.diagnostics if d.severity is Severity.ERROR]
        if checked.module is not None and not errors:
            modules[path] = checked.module
    return modules


def kinds_by_offset(text: str) -> list[_TokenType]:
    """The token type of each character of ``text``."""
    return [kind for _, kind, value in PmLexer().get_tokens_unprocessed(text) for _ in value]


def test_pygments_finds_the_lexer_by_its_alias_and_by_a_files_name_and_text() -> None:
    assert isinstance(get_lexer_by_name("pm"), PmLexer)
    # Perl and Promela also claim `*.pm`: the text, which opens a process, decides.
    text = (REPO / "examples" / "dunning.pm").read_text(encoding="utf-8")
    assert isinstance(get_lexer_for_filename("dunning.pm", code=text), PmLexer)
    assert not isinstance(
        get_lexer_for_filename("Module.pm", code="package Module;\n1;\n"), PmLexer
    )


def test_every_accepted_file_lexes_whole_without_an_error_token() -> None:
    assert len(accepted()) >= 20  # the examples and the fixtures that check
    wrong = {}
    for path in accepted():
        text = path.read_text(encoding="utf-8")
        tokens = list(PmLexer().get_tokens_unprocessed(text))
        assert "".join(value for _, _, value in tokens) == text
        errors = [(offset, value) for offset, kind, value in tokens if kind in Error]
        if errors:
            wrong[path.name] = errors
    assert wrong == {}


def test_comments_strings_and_numbers_get_their_token_types() -> None:
    wrong = []
    for path, module in accepted().items():
        source = SourceFile(str(path), path.read_text(encoding="utf-8"))
        kinds = kinds_by_offset(source.text)
        wanted: list[tuple[int, int, _TokenType]] = [
            (source.offset(c.span.line, c.span.column), len(c.text), Comment)
            for c in module.comments
        ]
        for token in parser().lex(source.text):
            assert token.start_pos is not None and token.end_pos is not None
            if token.type == "STRING":
                wanted.append((token.start_pos, token.end_pos - token.start_pos, String))
            elif token.type in NUMBERS:
                wanted.append(
                    (token.start_pos, token.end_pos - token.start_pos, NUMBERS[token.type])
                )
        wrong += [
            f"{path.name}:{source.position(start)}: {source.text[start : start + length]!r}"
            for start, length, kind in wanted
            if any(k not in kind for k in kinds[start : start + length])
        ]
    assert wrong == []


def test_keywords_outside_comments_and_strings_are_keywords() -> None:
    word = re.compile(rf"\b({'|'.join(keywords())})\b")
    wrong = []
    for path in accepted():
        text = path.read_text(encoding="utf-8")
        kinds = kinds_by_offset(text)
        for found in word.finditer(text):
            kind = kinds[found.start()]
            if kind in Comment or kind in String:
                continue
            if not any(kind in allowed for allowed in KEYWORD_OR_NAME):
                wrong.append(f"{path.name}:{found.start()} {found.group()}: {kind}")
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("transition pay: open -> paid on Paid", [Keyword.Declaration, Name.Function]),
        ("machine Invoice {", [Keyword.Declaration, Name.Class]),
        ("when data.total >= 10.5", [Keyword, Name.Builtin, Name.Attribute, Operator]),
        ("not x in y and true", [Operator.Word, Name, Operator.Word, Name, Operator.Word]),
        ("retry 3 backoff 30s", [Keyword, Number.Integer, Keyword, Number]),
        ('reason: str = "a\\"b"', [Name.Attribute, Name, Operator, String.Double]),
    ],
)
def test_each_kind_of_word_gets_its_type(text: str, expected: list[_TokenType]) -> None:
    words = [
        kind
        for kind, value in PmLexer().get_tokens(text)
        if value.strip() and value not in {":", ".", "{", '\\"', '"', "\n"}
    ]
    assert words[: len(expected)] == expected
