"""The VS Code extension's TextMate grammar highlights every example, as VS Code would.

``editors/vscode/test/tokenize.mjs`` runs the engine VS Code uses
(``vscode-textmate`` on ``vscode-oniguruma``, installed by ``npm ci`` in that
folder; ``.ci/run`` does it) and prints each line's tokens and scopes. The
judge is pmc itself: its parse says where the comments and strings are, its
grammar which words are keywords, its lexer and parse tree which tokens are
names, numbers, durations, operators and escapes. ``fixtures/highlights.pm``
has what the examples lack (escapes, decimals, every operator).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lark import Token as LarkToken

from pmc.compiler import check_source
from pmc.lsp.completion import keywords
from pmc.semantics.types import KNOWN_TYPE_NAMES
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.grammar import parser

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
ENGINE = EXTENSION / "test"
HERE = Path(__file__).resolve().parent
FILES = [
    *sorted((REPO / "examples").glob("*.pm")),
    REPO / "tests" / "lsp" / "fixtures" / "shop.pm",
    HERE / "fixtures" / "highlights.pm",
]
# Not pmc: a string left open on its line (as while typing).
UNTERMINATED = HERE / "fixtures" / "unterminated.pm"
# The scopes a keyword may get: a keyword proper, a declaring keyword, a
# literal, a reference (`event.`, `data.`), a built-in, or a name where the
# language lets a keyword be one (`transition retry:`).
KEYWORD_SCOPES = ("keyword.", "storage.", "constant.language.", "variable.language.", "support.")
NAME_SCOPES = ("entity.name.",)

Token = tuple[str, list[str]]


def _engine_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ENGINE / "node_modules" / "vscode-textmate").is_dir():
        return f"vscode-textmate is not installed: npm ci --prefix {ENGINE.relative_to(REPO)}"
    return None


@cache
def tokenized() -> dict[str, list[dict[str, Any]]]:
    """Every file's lines as the engine tokenizes them, by path."""
    missing = _engine_missing()
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {missing}")
    if missing:
        pytest.skip(missing)
    grammar = EXTENSION / "syntaxes" / "pm.tmLanguage.json"
    done = subprocess.run(
        ["node", "tokenize.mjs", str(grammar), *map(str, [*FILES, UNTERMINATED])],
        cwd=ENGINE,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(done.stdout))


def scopes_by_column(tokens: list[Token]) -> list[list[str]]:
    """The scopes of each character of a line (0-based)."""
    return [scopes for text, scopes in tokens for _ in text]


def _string_literals(node: object) -> Iterator[ast.StringLiteral]:
    if isinstance(node, ast.StringLiteral):
        yield node
    elif isinstance(node, tuple):
        for item in node:
            yield from _string_literals(item)
    elif dataclasses.is_dataclass(node):
        for field in dataclasses.fields(node):
            yield from _string_literals(getattr(node, field.name))


def _parsed(path: Path) -> ast.Module:
    module = check_source(SourceFile(str(path), path.read_text(encoding="utf-8"))).module
    assert module is not None
    return module


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_line_ends_where_it_began(path: Path) -> None:
    # No rule stays open past its line: a broken one would colour the rest of the file.
    lines = tokenized()[str(path)]

    assert [n for n, line in enumerate(lines, 1) if not line["initial"]] == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_comments_and_strings_get_their_scopes(path: Path) -> None:
    lines = tokenized()[str(path)]
    module = _parsed(path)
    wanted = [(c.span, "comment.line.number-sign.pm") for c in module.comments]
    wanted += [(s.span, "string.quoted.double.pm") for s in _string_literals(module.process)]

    wrong = [
        f"{span.line}:{column}: {scopes}"
        for span, scope in wanted
        for column in range(span.column - 1, span.end_column - 1)
        if scope not in (scopes := scopes_by_column(lines[span.line - 1]["tokens"])[column])
    ]

    assert wanted  # every file here has comments
    assert wrong == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_keywords_outside_comments_and_strings_are_keywords(path: Path) -> None:
    lines = tokenized()[str(path)]
    word = re.compile(rf"\b({'|'.join(keywords())})\b")

    wrong = []
    for number, line in enumerate(lines, 1):
        by_column = scopes_by_column(line["tokens"])
        text = "".join(token for token, _ in line["tokens"])
        for found in word.finditer(text):
            scopes = by_column[found.start()]
            if any(s.startswith(("comment.", "string.")) for s in scopes):
                continue
            if not any(s.startswith(KEYWORD_SCOPES + NAME_SCOPES) for s in scopes):
                wrong.append(f"{number}:{found.start() + 1} {found.group()}: {scopes}")

    assert wrong == []


# What each kind of token must be scoped as (a prefix of one of its scopes).
DECLARED = ("process", "event_decl", "signal_decl", "task_decl", "machine_decl", "transition")
MEMBERS = ("event_field_ref", "data_ref", "instance_ref")
OPERATORS = frozenset({"->", "==", "!=", "<", "<=", ">", ">=", "+", "-", "=", "|", "*"})
NUMBERS = {
    "INT": "constant.numeric.integer.pm",
    "DECIMAL": "constant.numeric.decimal.pm",
    "DURATION": "constant.numeric.duration.pm",
}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _expected_in_tree(path: Path) -> Iterator[tuple[LarkToken, str]]:
    """Declared names, `event.F`-like members and type names, from pmc's parse tree."""
    tree = parser().parse(_text(path))
    for node in tree.iter_subtrees():
        names = [c for c in node.children if isinstance(c, LarkToken) and c.type == "NAME"]
        if node.data in DECLARED and names:
            yield names[0], "entity.name."
        elif node.data in MEMBERS and names:
            yield names[-1], "variable.other.member.pm"
        elif node.data == "type_atom" and names and names[0] in KNOWN_TYPE_NAMES:
            yield names[0], "support.type.pm"


def _expected_in_tokens(path: Path) -> Iterator[tuple[LarkToken, str]]:
    """Numbers, durations, operators and string escapes, from pmc's lexer."""
    for token in parser().lex(_text(path)):
        if token.type in NUMBERS:
            yield token, NUMBERS[token.type]
        elif token.value in OPERATORS:
            yield token, "keyword.operator."
        elif token.type == "STRING":
            for escape in re.finditer(r"\\.", token.value):
                assert token.line is not None and token.column is not None
                yield (
                    LarkToken(
                        "ESCAPE",
                        escape.group(),
                        line=token.line,
                        column=token.column + escape.start(),
                    ),
                    "constant.character.escape.pm",
                )


def _wrong_scopes(path: Path, wanted: Iterator[tuple[LarkToken, str]]) -> tuple[int, list[str]]:
    """How many tokens were judged, and those lacking their scope (line:column text: scopes)."""
    lines = tokenized()[str(path)]
    judged, wrong = 0, []
    for token, scope in wanted:
        assert token.line is not None and token.column is not None
        by_column = scopes_by_column(lines[token.line - 1]["tokens"])
        for column in range(token.column - 1, token.column - 1 + len(token.value)):
            if not any(s.startswith(scope) for s in by_column[column]):
                wrong.append(f"{token.line}:{column + 1} {token.value}: {by_column[column]}")
        judged += 1
    return judged, wrong


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_declared_names_members_and_types_get_their_scopes(path: Path) -> None:
    judged, wrong = _wrong_scopes(path, _expected_in_tree(path))

    assert judged > 0
    assert wrong == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_numbers_durations_operators_and_escapes_get_their_scopes(path: Path) -> None:
    judged, wrong = _wrong_scopes(path, _expected_in_tokens(path))

    assert judged > 0
    assert wrong == []


def test_highlights_has_every_kind_of_token_judged() -> None:
    # The fixture is there for these: a kind it lost would be judged nowhere.
    path = HERE / "fixtures" / "highlights.pm"
    scopes = {scope for _, scope in [*_expected_in_tree(path), *_expected_in_tokens(path)]}
    values = {token.value for token, _ in _expected_in_tokens(path)}

    assert scopes == {
        "entity.name.",
        "variable.other.member.pm",
        "support.type.pm",
        *NUMBERS.values(),
        "keyword.operator.",
        "constant.character.escape.pm",
    }
    assert OPERATORS - values == {"*"}  # `*` (`on *`) is for a catch-all


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_names_are_not_keywords(path: Path) -> None:
    # A name the lexer does not take for a keyword is never scoped as one.
    lines = tokenized()[str(path)]
    wrong = []
    for token in parser().lex(_text(path)):
        if token.type != "NAME":
            continue
        assert token.line is not None and token.column is not None
        scopes = scopes_by_column(lines[token.line - 1]["tokens"])[token.column - 1]
        if any(s.startswith("keyword.") for s in scopes):
            wrong.append(f"{token.line}:{token.column} {token.value}: {scopes}")

    assert wrong == []


def test_a_string_left_open_ends_with_its_line() -> None:
    # While a quote is being typed, the lines below keep their colours.
    lines = tokenized()[str(UNTERMINATED)]
    after = scopes_by_column(lines[3]["tokens"])  # `    }` below `note: str = "open`

    assert "string.quoted.double.pm" in scopes_by_column(lines[2]["tokens"])[-1]
    assert not any(s.startswith("string.") for scopes in after for s in scopes)
    assert "punctuation.section.block.pm" in after[-1]


def test_the_extension_declares_the_grammar_and_starts_pmc_lsp() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    contributes = manifest["contributes"]

    assert contributes["languages"][0]["extensions"] == [".pm"]
    assert contributes["grammars"][0]["scopeName"] == "source.pm"
    assert (EXTENSION / contributes["grammars"][0]["path"]).is_file()
    assert (EXTENSION / contributes["languages"][0]["configuration"]).is_file()
    command = contributes["configuration"]["properties"]["pmc.command"]["default"]
    assert command == ["pmc", "lsp"]
