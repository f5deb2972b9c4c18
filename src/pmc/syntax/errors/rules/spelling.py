"""Rules for misspelled keywords, built on the "did you mean" of :mod:`pmc.diagnostics.suggest`."""

from __future__ import annotations

from collections.abc import Iterable

from lark import Token

from pmc.diagnostics import Diagnostic
from pmc.diagnostics.suggest import did_you_mean
from pmc.syntax.errors.expected import keyword_texts
from pmc.syntax.errors.stuck import Stuck, on_token

_TASK_KEYWORDS = ("retry", "timeout", "returns", "backoff", "every", "max")


# Operators of two words, suggested where their first word may stand: a
# word run together (`isnot`, `notin`) is nearer to the pair than to either.
_PHRASES = {"is": ("is not",), "not": ("not in",)}


def misspelled_keyword(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != "NAME":
        return None
    keywords = tuple(keyword_texts(stuck.accepts))
    phrases = tuple(phrase for word in keywords for phrase in _PHRASES.get(word, ()))
    return _misspelled(stuck.bad, (*keywords, *phrases))


def misspelled_task_keyword(stuck: Stuck) -> Diagnostic | None:
    """``retyr 3`` in a task: a field name is allowed there, so the typo is noticed late."""
    previous = stuck.stack_token(-1)
    if (
        stuck.block_kind != "task"
        or previous is None
        or previous.type != "NAME"
        or stuck.bad.type == "COLON"
    ):
        return None
    return _misspelled(previous, _TASK_KEYWORDS)


def _misspelled(word: Token, keywords: Iterable[str]) -> Diagnostic | None:
    help = did_you_mean(str(word), keywords)
    if help is None:
        return None
    return Diagnostic("PM0001", f"misspelled keyword `{word}`; {help}", on_token(word), label=help)
