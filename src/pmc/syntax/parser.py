"""Entry point of the syntax stage: ``parse(source) -> ParseResult``.

Lark exceptions never leave this package: every failure becomes a
:class:`~pmc.diagnostics.Diagnostic`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.syntax.builder import AstBuilder, InvalidLiteral, tree_depth
from pmc.syntax.errors import syntax_error_diagnostic
from pmc.syntax.grammar import parser

# Generous for real processes, small enough that hostile input fails fast.
MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_TREE_DEPTH = 100

_COMMENT_OR_STRING = re.compile(r'"(?:\\.|[^"\\\r\n])*"|#[^\n]*')


@dataclass(frozen=True, slots=True)
class ParseResult:
    module: ast.Module | None
    diagnostics: tuple[Diagnostic, ...]


def parse(source: SourceFile) -> ParseResult:
    size = len(source.text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        return _failure(
            Diagnostic(
                "PM0005",
                f"file is too large ({size:,} bytes; the limit is {MAX_SOURCE_BYTES:,})",
                Span.point(1, 1),
                help="split the process into smaller ones",
            )
        )
    try:
        tree = parser().parse(source.text)
    except (UnexpectedToken, UnexpectedCharacters, UnexpectedEOF) as error:
        return _failure(syntax_error_diagnostic(error, source))
    except UnexpectedInput as error:  # pragma: no cover - other lark input errors
        return _failure(syntax_error_diagnostic(error, source))
    if tree_depth(tree) > MAX_TREE_DEPTH:
        return _failure(
            Diagnostic(
                "PM0005",
                f"nesting is too deep (the limit is {MAX_TREE_DEPTH} levels)",
                Span.point(1, 1),
            )
        )
    try:
        process = AstBuilder().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, InvalidLiteral):
            invalid = error.orig_exc
            return _failure(Diagnostic(invalid.code, invalid.message, invalid.span, help=invalid.help))
        raise
    assert isinstance(process, ast.Process)
    return ParseResult(ast.Module(process, scan_comments(source.text, source)), ())


def scan_comments(text: str, source: SourceFile) -> tuple[ast.Comment, ...]:
    """Every ``#`` comment, skipping ``#`` inside string literals."""
    comments = []
    for match in _COMMENT_OR_STRING.finditer(text):
        if match.group().startswith("#"):
            line, column = source.position(match.start())
            end_line, end_column = source.position(match.end())
            comments.append(
                ast.Comment(match.group().rstrip("\r"), Span(line, column, end_line, end_column))
            )
    return tuple(comments)


def _failure(diagnostic: Diagnostic) -> ParseResult:
    return ParseResult(None, (diagnostic,))


__all__ = ["MAX_SOURCE_BYTES", "MAX_TREE_DEPTH", "ParseResult", "Token", "parse"]
