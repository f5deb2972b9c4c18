"""Building models for the graph tests: from `.pm` text, or by hand for hostile names."""

from __future__ import annotations

from pathlib import Path

from pmc.compiler import check_source
from pmc.diagnostics.render import DiagnosticReport, render_text
from pmc.semantics.model import ProcessModel
from pmc.source import SourceFile


def model_of(text: str, path: str = "test.pm") -> ProcessModel:
    """The validated model of a `.pm` source that must check cleanly."""
    source = SourceFile(path, text)
    result = check_source(source)
    assert result.model is not None, render_text(DiagnosticReport(source, result.diagnostics))
    return result.model


def example_model(path: Path) -> ProcessModel:
    """The model of a file under ``examples/``, displayed as the docs name it."""
    return model_of(path.read_text(encoding="utf-8"), f"examples/{path.name}")
