"""Diagnostics are data: every stage returns them, only the CLI prints them."""

from pmc.diagnostics.codes import CODES, Code
from pmc.diagnostics.model import Diagnostic, Label, Severity, has_errors

__all__ = ["CODES", "Code", "Diagnostic", "Label", "Severity", "has_errors"]
