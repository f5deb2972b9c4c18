"""The lark parser for ``grammar/pm.lark``, built once per process."""

from __future__ import annotations

import re
from functools import cache

from lark import Lark
from lark.lexer import Pattern, PatternRE, PatternStr, TerminalDef

from pmc._resources import read_text

# A keyword followed by one of these is part of a longer word.
_NOT_IN_A_WORD = "(?![A-Za-z0-9_])"
_KEYWORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)" + re.escape(_NOT_IN_A_WORD))
# Above NAME's 0, so a word that is both a keyword and a name is the keyword
# wherever the parser accepts that keyword, as lark does for string terminals.
_KEYWORD_PRIORITY = 2


def _whole_words(terminal: TerminalDef) -> None:
    """Make a keyword terminal match whole words only.

    Lark matches a string terminal at the start of a longer word where no name
    may go: after `when`, `notdata.flag` would read as `not data.flag`.
    """
    pattern = terminal.pattern
    if isinstance(pattern, PatternStr) and pattern.value.isidentifier():
        terminal.pattern = PatternRE(re.escape(pattern.value) + _NOT_IN_A_WORD, pattern.flags)
        terminal.priority = _KEYWORD_PRIORITY


def _fixed_text(pattern: Pattern) -> str | None:
    if isinstance(pattern, PatternStr):
        return pattern.value
    keyword = _KEYWORD.fullmatch(pattern.value)
    return keyword.group(1) if keyword is not None else None


def fixed_texts(lark: Lark) -> dict[str, str]:
    """Terminal name -> the one text it matches (`:`, `transition`), for such terminals."""
    texts = {terminal.name: _fixed_text(terminal.pattern) for terminal in lark.terminals}
    return {name: text for name, text in texts.items() if text is not None}


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
        edit_terminals=_whole_words,
    )
