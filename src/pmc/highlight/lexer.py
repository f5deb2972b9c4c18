"""A Pygments lexer for ``.pm`` files: colourful code blocks in docs, `pygmentize -l pm`.

Registered under the ``pygments.lexers`` entry point (pyproject.toml), so
Pygments, Sphinx and MkDocs find it by the alias ``pm`` once pmc is
installed with the ``highlight`` extra. Nothing in pmc imports it.

A regular-expression lexer cannot know the grammar's context, so it takes
the common reading: a word followed by ``:`` is a field or a transition's
name even where it is spelled like a keyword (``key: str``, ``reason: str``),
a word right after ``process``, ``machine``, ``event``, ``signal`` or
``task`` is the declared name, and ``event.``, ``data.`` and ``instance.``
start a reference. tests/highlight checks every keyword of grammar/pm.lark
is coloured as one, and that the examples lex without an error token.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
    _TokenType,
)

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_PROCESS = re.compile(rf"^process[ \t]+{_IDENTIFIER}[ \t]*\{{", re.MULTILINE)
# A keyword is a whole word, as in pmc's lexer: `notin` is a name.
_WORD_END = r"(?![A-Za-z0-9_])"

DECLARATIONS = ("process", "machine", "event", "signal", "task")
KEYWORDS = (
    "after",
    "all",
    "any",
    "async",
    "at",
    "backoff",
    "cancel",
    "complete",
    "completed",
    "data",
    "emit",
    "every",
    "fail",
    "failed",
    "final",
    "initial",
    "keep",
    "key",
    "len",
    "machine_id",
    "max",
    "on",
    "retry",
    "returns",
    "run",
    "set",
    "start",
    "states",
    "sync",
    "timeout",
    "transition",
    "when",
)
OPERATOR_WORDS = ("and", "in", "is", "not", "or")
CONSTANTS = ("true", "false", "none")
# The scopes of a reference: `event.amount`, `data.total`, `instance.tries`.
SCOPES = ("event", "data", "instance")


def _by_groups(*kinds: _TokenType) -> Any:
    """Pygments' ``bygroups`` (its type stubs leave it untyped)."""
    return bygroups(*kinds)  # type: ignore[no-untyped-call]


class PmLexer(RegexLexer):
    """The ``.pm`` language of pmc: one process of events, tasks, signals and machines."""

    name = "pmc process"
    aliases: ClassVar[list[str]] = ["pm", "pmc"]
    filenames: ClassVar[list[str]] = ["*.pm"]
    url = "https://pypi.org/project/event-sourcery-pmc/"

    @staticmethod
    def analyse_text(text: str) -> float:
        """Certain for a file that opens a process: Perl and Promela also name files `*.pm`."""
        return 1.0 if _PROCESS.search(text) else 0.0

    tokens: ClassVar[dict[str, list[Any]]] = {
        "root": [
            (r"[ \t\f\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            # A declaration and the name it declares.
            (
                rf"({'|'.join(DECLARATIONS)})([ \t]+)({_IDENTIFIER})",
                _by_groups(Keyword.Declaration, Whitespace, Name.Class),
            ),
            (
                rf"(transition)([ \t]+)({_IDENTIFIER})",
                _by_groups(Keyword.Declaration, Whitespace, Name.Function),
            ),
            # `event.amount`, `data.total`: the scope, then the field.
            (
                rf"({'|'.join(SCOPES)})(\.)({_IDENTIFIER})",
                _by_groups(Name.Builtin, Punctuation, Name.Attribute),
            ),
            # A field's name, whatever its spelling: `key: str`.
            (rf"({_IDENTIFIER})([ \t]*)(:)", _by_groups(Name.Attribute, Whitespace, Punctuation)),
            (words(CONSTANTS, suffix=_WORD_END), Keyword.Constant),
            (words(OPERATOR_WORDS, suffix=_WORD_END), Operator.Word),
            (words((*KEYWORDS, *DECLARATIONS), suffix=_WORD_END), Keyword),
            (r"[0-9]+(ms|s|m|h|d)" + _WORD_END, Number),
            (r"-?[0-9]+\.[0-9]+", Number.Float),
            (r"-?[0-9]+", Number.Integer),
            (_IDENTIFIER, Name),
            (r"->|==|!=|<=|>=|[<>=+\-*|]", Operator),
            (r"[{}()\[\],:;.]", Punctuation),
        ],
        "string": [
            (r'\\["\\ntr]', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r'"', String.Double, "#pop"),
            # A string left open ends with its line, as in pmc's lexer.
            (r"\n", Whitespace, "#pop"),
            (r"\\.?", String.Escape),  # not an escape pmc knows: its error, not the lexer's
        ],
    }


__all__ = ["PmLexer"]
