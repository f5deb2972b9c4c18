"""The lark parser for ``grammar/pm.lark``, built once per process."""

from __future__ import annotations

from functools import cache

from lark import Lark

from pmc._resources import read_text


def grammar_text() -> str:
    return read_text("grammar", "pm.lark")


@cache
def parser() -> Lark:
    return build_parser(strict=False)


def build_parser(*, strict: bool) -> Lark:
    """Build the LALR parser; ``strict=True`` turns grammar conflicts into errors."""
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
    )
