"""Rules for what the lexer could not read: durations, strings, characters."""

from __future__ import annotations

import re

from lark import Token

from pmc.diagnostics import Diagnostic
from pmc.source import Span
from pmc.syntax.errors.expected import CHARACTER, describe_character, shorten
from pmc.syntax.errors.stuck import Stuck, extended, on_token

_DURATION_EXAMPLES = "`30s`, `500ms`, `5m`, `2h`, `1d`"
_DURATION_UNITS = ("ms", "s", "m", "h", "d")
# What follows a number the lexer could not read as a duration.
_UNIT_LIKE = re.compile(r"[A-Za-z_]+")
_COMPOUND_DURATION = re.compile(r"(?:ms|s|m|h|d)(?:[0-9]+(?:ms|s|m|h|d))+(?![A-Za-z0-9_])")


def duration_needs_unit(stuck: Stuck) -> Diagnostic | None:
    """A number where a duration belongs: the lexer split `30sec` into `30` and `sec`."""
    if "DURATION" not in stuck.accepts or stuck.bad.type not in {"INT", "DECIMAL"}:
        return None
    if stuck.bad.type == "DECIMAL":
        return Diagnostic(
            "PM0006",
            f"a duration is a whole number with a unit: {_DURATION_EXAMPLES}",
            on_token(stuck.bad),
            label="not a whole number",
            help="use a smaller unit, e.g. `90m` rather than `1.5h`",
        )
    rest = stuck.source.text[stuck.bad.end_pos or 0 :]
    if str(stuck.bad).startswith("-"):
        return _negative_duration(stuck.bad, rest)
    compound = _COMPOUND_DURATION.match(rest)
    if compound:
        return _compound_duration(stuck.bad, compound.group())
    word = _UNIT_LIKE.match(rest)
    if word:
        return _unknown_unit(stuck.bad, word.group())
    return _unitless(stuck.bad, rest)


def _negative_duration(number: Token, rest: str) -> Diagnostic:
    # The lexer reads `-5s` as the integer `-5` and a word `s`, so without
    # this the message would call `s` an unknown unit.
    unit = _UNIT_LIKE.match(rest)
    written = str(number) + (unit.group() if unit else "")
    return _bad_duration(
        number,
        written[len(str(number)) :],
        f"a duration cannot be negative: `{shorten(written)}`",
        label="negative duration",
        help="durations are whole numbers with a unit, e.g. " + _DURATION_EXAMPLES,
    )


def _compound_duration(number: Token, rest: str) -> Diagnostic:
    return _bad_duration(
        number,
        rest,
        f"a duration has one number and one unit, not `{shorten(str(number) + rest)}`",
        label="compound duration",
        help="convert to the smaller unit, e.g. `90m` rather than `1h30m`",
    )


def _unknown_unit(number: Token, unit: str) -> Diagnostic:
    return _bad_duration(
        number,
        unit,
        f"unknown duration unit `{shorten(unit)}` in `{number}{shorten(unit)}`",
        label="unknown unit",
        help="units are `ms`, `s`, `m`, `h` and `d`, e.g. " + _DURATION_EXAMPLES,
    )


def _bad_duration(number: Token, tail: str, message: str, label: str, help: str) -> Diagnostic:
    """A PM0006 under ``number`` and the ``tail`` the lexer read apart from it."""
    return Diagnostic(
        "PM0006", message, extended(on_token(number), len(tail)), label=label, help=help
    )


def _unitless(number: Token, rest: str) -> Diagnostic:
    spaced = rest.lstrip(" \t")
    spaced_unit = next((u for u in _DURATION_UNITS if _starts_with_word(spaced, u)), None)
    return Diagnostic(
        "PM0006",
        f"a duration needs a unit: {_DURATION_EXAMPLES}",
        on_token(number),
        label="no unit",
        help=f"write `{number}{spaced_unit}`, without a space"
        if spaced_unit
        else f"write `{number}s` for {number} seconds",
    )


def _starts_with_word(text: str, word: str) -> bool:
    if not text.startswith(word):
        return False
    following = text[len(word) : len(word) + 1]
    return not (following.isalnum() or following == "_")


def unterminated_string(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != CHARACTER or str(stuck.bad) != '"':
        return None
    line = stuck.bad.line or 1
    column = stuck.bad.column or 1
    end = len(stuck.source.line_text(line)) + 1
    return Diagnostic(
        "PM0004",
        "unterminated string",
        Span(line, column, line, max(end, column + 1)),
        label="this string is not closed",
        help='close it with `"` before the end of the line; strings cannot span lines',
    )


def non_ascii_letter(stuck: Stuck) -> Diagnostic | None:
    character = str(stuck.bad)
    if stuck.bad.type != CHARACTER or not character.isalnum() or character.isascii():
        return None
    return Diagnostic(
        "PM0003",
        f"unexpected character {describe_character(character)}: "
        "names use ASCII letters, digits and `_`",
        on_token(stuck.bad),
        label="not ASCII",
    )
