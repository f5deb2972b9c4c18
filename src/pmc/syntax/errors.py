"""Syntax errors in plain words.

Lark reports what it expected as terminal names (``COLON``, ``NAME``); people
want "expected `:` after the transition name". This module turns lark's
exceptions into diagnostics, with tailored messages for common mistakes.
"""

from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile, Span
from pmc.syntax.grammar import parser

_REGEX_TERMINAL_WORDS = {
    "NAME": "a name",
    "DURATION": "a duration such as `30s`",
    "INT": "an integer",
    "DECIMAL": "a decimal number",
    "STRING": 'a string such as `"text"`',
    "$END": "the end of the file",
}


def describe_terminal(name: str) -> str:
    """A terminal in plain words: "`:`", "`transition`", "a name"."""
    if name in _REGEX_TERMINAL_WORDS:
        return _REGEX_TERMINAL_WORDS[name]
    terminal = parser().get_terminal(name)
    if isinstance(terminal.pattern, PatternStr):
        return f"`{terminal.pattern.value}`"
    return name.lower()  # pragma: no cover - every regex terminal is listed above


def describe_expected(names: set[str] | frozenset[str]) -> str:
    words = sorted({describe_terminal(name) for name in names})
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def describe_token(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"`{token}`"


def syntax_error_diagnostic(error: UnexpectedInput, source: SourceFile) -> Diagnostic:
    if isinstance(error, UnexpectedToken):
        return _unexpected_token(error, source)
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(error, source)
    if isinstance(error, UnexpectedEOF):
        return Diagnostic(
            "PM0002",
            f"unexpected end of file; expected {describe_expected(set(error.expected))}",
            source.end_span(),
        )
    return Diagnostic("PM0001", "syntax error", Span.point(error.line, error.column))


def _unexpected_token(error: UnexpectedToken, source: SourceFile) -> Diagnostic:
    token = error.token
    expected = describe_expected(error.expected)
    if token.type == "$END":
        return Diagnostic(
            "PM0002",
            f"unexpected end of file; expected {expected}",
            source.end_span(),
            label=f"expected {expected}",
        )
    span = Span(token.line or 1, token.column or 1, token.end_line or 1, token.end_column or 2)
    return Diagnostic(
        "PM0001",
        f"unexpected {describe_token(token)}; expected {expected}",
        span,
        label=f"expected {expected}",
    )


def _unexpected_character(error: UnexpectedCharacters, source: SourceFile) -> Diagnostic:
    character = source.text[error.pos_in_stream] if error.pos_in_stream < len(source.text) else ""
    span = Span.point(error.line, error.column)
    if character == '"':
        return Diagnostic(
            "PM0004",
            "unterminated string literal",
            span,
            help="close the string with `\"` on the same line",
        )
    expected = describe_expected(set(error.allowed or ()))
    return Diagnostic(
        "PM0003",
        f"unexpected character `{character}`; expected {expected}",
        span,
        label=f"expected {expected}",
    )
