"""Comparing two versions of a `.pm` source, as the rule tests state their findings."""

from __future__ import annotations

from pmc.compiler import check_source
from pmc.diagnostics.render import DiagnosticReport, render_text
from pmc.semantics.model import ProcessModel
from pmc.source import SourceFile
from pmc.tools.breaking import Finding, Side, compare


def version(text: str, path: str) -> ProcessModel:
    source = SourceFile(path, text)
    result = check_source(source)
    assert result.model is not None, render_text(DiagnosticReport(source, result.diagnostics))
    return result.model


def edited(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def spanned(text: str, finding: Finding) -> str:
    """The source text under a single-line span."""
    span = finding.diagnostic.span
    assert span.line == span.end_line
    return text.split("\n")[span.line - 1][span.column - 1 : span.end_column - 1]


# (rule id, the file it points into, the source text under its span)
Found = tuple[str, Side, str]


def findings_between(old_text: str, new_text: str) -> list[Found]:
    found = compare(version(old_text, "old.pm"), version(new_text, "new.pm"))
    return [
        (f.diagnostic.id, f.side, spanned(old_text if f.side is Side.OLD else new_text, f))
        for f in found
    ]
