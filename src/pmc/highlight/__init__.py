"""``pmc.highlight``: the Pygments lexer for ``.pm`` files (:class:`PmLexer`, in ``lexer.py``).

Pygments finds it through the ``pygments.lexers`` entry point
(pyproject.toml: ``pmc.highlight:PmLexer``); nothing in pmc imports it.
"""

from pmc.highlight.lexer import PmLexer

__all__ = ["PmLexer"]
