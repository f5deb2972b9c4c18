"""Helpers shared by the syntax and property tests."""

from __future__ import annotations

import re

from pmc.syntax.grammar import parser


def lark_words() -> set[str]:
    """Lark's own vocabulary: terminal names (`COLON`, `NAME`) and markers."""
    return {terminal.name for terminal in parser().terminals} | {"$END", "<END-OF-FILE>"}


def leaked_lark_words(text: str) -> list[str]:
    return sorted(
        word for word in lark_words() if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)
    )
