"""The VS Code extension's TextMate grammar highlights every example, as VS Code would.

``editors/vscode/test/tokenize.mjs`` runs the engine VS Code uses
(``vscode-textmate`` on ``vscode-oniguruma``, installed by ``npm ci`` in that
folder; ``.ci/run`` does it) and prints each line's tokens and scopes. The
judge is pmc itself: its parse says where the comments and strings are, its
grammar which words are keywords.
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

from pmc.compiler import check_source
from pmc.lsp.completion import keywords
from pmc.source import SourceFile
from pmc.syntax import ast

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editors" / "vscode"
ENGINE = EXTENSION / "test"
FILES = [*sorted((REPO / "examples").glob("*.pm")), REPO / "tests" / "lsp" / "fixtures" / "shop.pm"]
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
        ["node", "tokenize.mjs", str(grammar), *map(str, FILES)],
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


def test_the_extension_declares_the_grammar_and_starts_pmc_lsp() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    contributes = manifest["contributes"]

    assert contributes["languages"][0]["extensions"] == [".pm"]
    assert contributes["grammars"][0]["scopeName"] == "source.pm"
    assert (EXTENSION / contributes["grammars"][0]["path"]).is_file()
    assert (EXTENSION / contributes["languages"][0]["configuration"]).is_file()
    command = contributes["configuration"]["properties"]["pmc.command"]["default"]
    assert command == ["pmc", "lsp"]
