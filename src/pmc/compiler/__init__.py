"""The front end as one call: parse, then analyse. No I/O, no printing."""

from __future__ import annotations

from dataclasses import dataclass

from pmc.diagnostics import Diagnostic
from pmc.semantics import analyze
from pmc.semantics.model import ProcessModel
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.parser import parse


@dataclass(frozen=True, slots=True)
class CheckResult:
    source: SourceFile
    module: ast.Module | None
    model: ProcessModel | None  # None while any error stands
    diagnostics: tuple[Diagnostic, ...]


def check_source(source: SourceFile) -> CheckResult:
    parsed = parse(source)
    if parsed.module is None:
        return CheckResult(source, None, None, parsed.diagnostics)
    analysis = analyze(parsed.module)
    diagnostics = tuple(sorted(parsed.diagnostics + analysis.diagnostics, key=lambda d: d.sort_key))
    return CheckResult(source, parsed.module, analysis.model, diagnostics)
