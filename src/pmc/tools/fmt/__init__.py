"""``pmc fmt``: the canonical layout of a ``.pm`` file, comments kept in place.

Pure functions from a parsed module to text; the CLI reads and writes files.
The layout is the canonical printer's (:mod:`pmc.syntax.printer`); this tool
adds the comments and the author's blank lines. The style itself is
documented in ``docs/style.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.parser import parse
from pmc.syntax.printer import CommentIndex, layout_process, start_of
from pmc.tools.fmt.comments import weave


def format_module(module: ast.Module, source: SourceFile) -> str:
    """The canonical text of ``module``, parsed from ``source``.

    ``source`` is needed for what the tree does not record: where comments sat
    relative to code, and where the author left blank lines.
    """
    comments = CommentIndex.of(start_of(c.span) for c in module.comments)
    lines = layout_process(module.process, comments)
    return weave(lines, module.comments, source)


@dataclass(frozen=True, slots=True)
class FormatResult:
    text: str | None  # None when the source does not parse
    diagnostics: tuple[Diagnostic, ...]


def format_source(source: SourceFile) -> FormatResult:
    """Parse and format; a file with syntax errors gets its diagnostics instead."""
    parsed = parse(source)
    if parsed.module is None:
        return FormatResult(None, parsed.diagnostics)
    return FormatResult(format_module(parsed.module, source), parsed.diagnostics)


__all__ = ["FormatResult", "format_module", "format_source"]
