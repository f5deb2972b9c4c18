"""What the parser expected, in plain words: terminals as people write them.

Lark names terminals (``COLON``, ``NAME``, ``$END``); messages say "`:`", "a
name", "the end of the file". The names come from the grammar itself, so a
keyword added to it is described without touching this module.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache

from lark import Token

from pmc.syntax.grammar import fixed_texts, parser

END = "$END"
# The type given to a single character that no terminal matches, so that the
# same rules can explain both a bad token and a bad character.
CHARACTER = "<character>"
LITERALS = frozenset({"STRING", "INT", "DECIMAL", "TRUE", "FALSE", "NONE"})
_REGEX_TERMINAL_WORDS = {
    "NAME": "a name",
    "DURATION": "a duration such as `30s`",
    "INT": "an integer",
    "DECIMAL": "a decimal number",
    "STRING": 'a string such as `"text"`',
    END: "the end of the file",
}
_MAX_SHOWN = 32


@cache
def _literal_patterns() -> dict[str, str]:
    """Terminal name -> its text, for terminals that match one fixed string."""
    return fixed_texts(parser())


def keyword_text(terminal: str) -> str | None:
    """``TRANSITION`` -> ``transition``; None for punctuation and regex terminals."""
    text = _literal_patterns().get(terminal)
    return text if text is not None and text.isidentifier() else None


@cache
def keyword_terminals() -> frozenset[str]:
    """Terminals that read like names: ``TRANSITION``, ``RETRY``, ``TRUE``..."""
    return frozenset(name for name in _literal_patterns() if keyword_text(name) is not None)


def terminal_text(terminal: str) -> str | None:
    """The fixed text of a terminal (``:``, ``->``, ``transition``), if it has one."""
    return _literal_patterns().get(terminal)


def keyword_texts(terminals: Iterable[str]) -> list[str]:
    """The keywords among ``terminals``, as written: ``RETRY``, ``COLON`` -> ``retry``."""
    return [text for text in map(keyword_text, terminals) if text is not None]


def arrow_terminal() -> str:
    """The terminal of ``->``: the grammar writes it inline, so lark names it (``__ANON_0``)."""
    return next(name for name, text in _literal_patterns().items() if text == "->")


def describe_terminal(name: str) -> str:
    """A terminal in plain words: "`:`", "`transition`", "a name"."""
    if name in _REGEX_TERMINAL_WORDS:
        return _REGEX_TERMINAL_WORDS[name]
    text = terminal_text(name)
    return f"`{text}`" if text is not None else "a token"


def _join(words: Iterable[str], conjunction: str = "or") -> str:
    items = list(words)
    if not items:
        return "nothing more"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def describe_expected(names: Iterable[str]) -> str:
    """An expected set in plain words, literals folded into "a value"."""
    names = set(names)
    words: list[str] = []
    if len(names & LITERALS) > 1:
        names -= LITERALS
        words.append("a value")
    words.extend(sorted({describe_terminal(name) for name in names} - {"a token"}))
    return _join(words)


def shorten(text: str) -> str:
    """Keep messages readable when the offending token is huge."""
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def describe_character(character: str) -> str:
    if character.isprintable() and not character.isspace():
        return f"`{character}`"
    name = unicodedata.name(character, "")
    code = f"U+{ord(character):04X}"
    return f"`{code}` ({name.lower()})" if name else f"`{code}`"


def describe_token(token: Token) -> str:
    if token.type == END:
        return "the end of the file"
    if token.type == CHARACTER:
        return f"character {describe_character(str(token))}"
    return f"`{shorten(str(token))}`"
