"""The compiler's front door: a ``.pm`` source in, diagnostics and a Python module out.

``check_source`` parses and analyses (what ``pmc check``, ``pmc graph`` and
``pmc breaking`` need; ``Checker`` does it for an editor's successive
texts); ``compile_source`` also generates the module (what ``pmc compile``
and tests that run generated code need). The stages behind
them: :mod:`pmc.syntax` -> :mod:`pmc.semantics` -> :mod:`pmc.codegen`. No
I/O, no printing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pmc.diagnostics import Diagnostic
from pmc.semantics import analyze
from pmc.semantics.machines import MachineResult, analyze_machine
from pmc.semantics.memo import MachineMemo
from pmc.semantics.model import ProcessModel
from pmc.semantics.scope import Scope
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.incremental import IncrementalParser
from pmc.syntax.parser import ParseResult, parse


@dataclass(frozen=True, slots=True)
class CheckResult:
    source: SourceFile
    module: ast.Module | None
    model: ProcessModel | None  # None while any error stands
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class CompileResult:
    source: SourceFile
    model: ProcessModel | None  # None while any error stands
    diagnostics: tuple[Diagnostic, ...]
    code: str | None  # the generated module; None while any error stands


def check_source(source: SourceFile) -> CheckResult:
    return _checked(source, parse(source), analyze_machine)


class Checker:
    """``check_source`` of one document's successive texts, as an editor checks them.

    Each text is checked whole, with ``check_source``'s results, but what did
    not change since the last text is not done again: the parser re-parses
    only the top-level blocks whose text changed
    (:class:`~pmc.syntax.incremental.IncrementalParser`) and semantics
    re-analyses only the machines that changed or read what did
    (:class:`~pmc.semantics.memo.MachineMemo`). A text whose trees are too
    deep to compare is checked by ``check_source`` itself.
    """

    def __init__(self) -> None:
        self._parser = IncrementalParser()
        self._machines = MachineMemo()

    def check(self, source: SourceFile) -> CheckResult:
        try:
            checked = _checked(source, self._parser.parse(source), self._machines)
        except RecursionError:
            # Comparing or moving kept trees walks them; one too deep for that
            # (a long sum, which `pmc check` reports as PM0005) is checked whole.
            return check_source(source)
        if checked.module is not None:
            self._machines.keep_only(m.name.text for m in checked.module.process.machines)
        return checked


def _checked(
    source: SourceFile,
    parsed: ParseResult,
    machine_analysis: Callable[[ast.MachineDecl, Scope], MachineResult],
) -> CheckResult:
    if parsed.module is None:
        return CheckResult(source, None, None, parsed.diagnostics)
    analysis = analyze(parsed.module, machine_analysis)
    diagnostics = tuple(sorted(parsed.diagnostics + analysis.diagnostics, key=lambda d: d.sort_key))
    return CheckResult(source, parsed.module, analysis.model, diagnostics)


def compile_source(source: SourceFile) -> CompileResult:
    """Check ``source`` and, if it has no error, generate its module.

    The module's header names the source by its file name, without the
    directory. Raises :class:`~pmc.codegen.CodegenError` when the formatter
    is missing or fails.
    """
    # Imported here so `pmc check` in a pre-commit hook does not load code
    # generation and, through the contract, the runtime's dependencies, nor
    # the printer.
    from pmc.codegen import generate
    from pmc.syntax.printer import program_text

    checked = check_source(source)
    if checked.module is None or checked.model is None:
        return CompileResult(source, None, checked.diagnostics, None)
    # The tree parsed once here is the one the header hashes.
    program = program_text(checked.module)
    code = generate(checked.model, source_name=Path(source.path).name, program=program)
    return CompileResult(source, checked.model, checked.diagnostics, code)
