"""Syntax errors in plain words.

Lark reports what it expected as terminal names (``COLON``, ``NAME``); people
want "expected `:` after the transition name `close`". When the parser gets
stuck, :func:`explain` captures where it stopped (:mod:`.stuck`: the token it
could not take, the last token it took, the terminals it would have accepted,
and lark's value stack of unfinished constructs) and tries the tailored rules
in their order (:mod:`.rules`), most specific first. Each rule recognises one
common mistake and says what to write instead, naming terminals as people
write them (:mod:`.expected`); the last resort is a generic "unexpected X;
expected Y".
"""

from __future__ import annotations

from lark import Token
from lark.parsers.lalr_interactive_parser import InteractiveParser

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile
from pmc.syntax.errors.expected import CHARACTER, END, keyword_terminals


def explain(
    interactive: InteractiveParser, bad: Token, previous: Token | None, source: SourceFile
) -> Diagnostic:
    """The diagnostic for a parser stuck at ``bad``, just after ``previous``."""
    # The rules are a dozen modules: loaded for a file with a syntax error only,
    # so `pmc check` on a valid file does not wait for them.
    from pmc.syntax.errors.rules import describe
    from pmc.syntax.errors.stuck import capture

    return describe(capture(interactive, bad, previous, source))


__all__ = ["CHARACTER", "END", "explain", "keyword_terminals"]
