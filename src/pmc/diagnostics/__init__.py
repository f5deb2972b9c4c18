"""Diagnostics are data: every stage returns them, only the CLI prints them."""

from pmc.diagnostics.model import (
    Diagnostic,
    Label,
    Location,
    StreamPosition,
    has_errors,
    plural_word,
)
from pmc.diagnostics.registry import BREAKING_RULES, CODES, REPLAY_RULES, RULES, Rule, Severity

__all__ = [
    "BREAKING_RULES",
    "CODES",
    "REPLAY_RULES",
    "RULES",
    "Diagnostic",
    "Label",
    "Location",
    "Rule",
    "Severity",
    "StreamPosition",
    "has_errors",
    "plural_word",
]
