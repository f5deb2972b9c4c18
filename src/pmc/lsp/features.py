"""Each editor feature as a pure function of one analysed document.

:func:`analyse` runs the compiler's front end (what ``pmc check`` runs) and
builds the symbol index; every other function answers one LSP request from
that :class:`Analysis`, in lsprotocol's types. Nothing here does I/O: the
server (:mod:`pmc.lsp.server`) keeps the analyses and speaks the protocol.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

from lsprotocol import types

from pmc.compiler import CheckResult, check_source
from pmc.diagnostics import Diagnostic, Severity
from pmc.errors import PmcError
from pmc.lsp.completion import candidates, keywords
from pmc.lsp.index import Kind, Occurrence, Outline, SymbolId, SymbolIndex, build_index
from pmc.lsp.positions import UTF16, Positions
from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.tools.explain import all_sections
from pmc.tools.fmt import format_module


@dataclass(frozen=True)
class Analysis:
    """One version of a document, checked: its diagnostics and, when it parses, its index."""

    source: SourceFile
    module: ast.Module | None  # None: the text does not parse
    diagnostics: tuple[Diagnostic, ...]
    encoding: str = UTF16  # of LSP columns, as negotiated with the client

    @cached_property
    def positions(self) -> Positions:
        return Positions(self.source, self.encoding)

    @cached_property
    def index(self) -> SymbolIndex | None:
        """Built on the first request that needs it: a keystroke only publishes diagnostics."""
        return build_index(self.module, self.source) if self.module is not None else None


def analyse(
    path: str,
    text: str,
    encoding: str = UTF16,
    check: Callable[[SourceFile], CheckResult] = check_source,
) -> Analysis:
    """``pmc check`` of ``text``; the server passes each open document's ``Checker.check``."""
    source = SourceFile(path, text)
    checked = check(source)
    return Analysis(source, checked.module, checked.diagnostics, encoding)


# ---- diagnostics -----------------------------------------------------------------------------

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
}


def lsp_diagnostic(positions: Positions, uri: str, diagnostic: Diagnostic) -> types.Diagnostic:
    """``diagnostic`` as ``pmc check`` prints it: message, label, notes and help; labels related."""
    lines = [diagnostic.message]
    lines += [diagnostic.label] if diagnostic.label else []
    lines += [f"note: {note}" for note in diagnostic.notes]
    lines += [f"help: {diagnostic.help}"] if diagnostic.help else []
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(uri=uri, range=positions.range(label.span)),
            message=label.message,
        )
        for label in diagnostic.labels
    ]
    return types.Diagnostic(
        range=positions.range(diagnostic.span),
        message="\n".join(lines),
        severity=_SEVERITY[diagnostic.severity],
        code=diagnostic.id,
        source="pmc",
        related_information=related or None,
    )


def lsp_diagnostics(analysis: Analysis, uri: str) -> list[types.Diagnostic]:
    return [lsp_diagnostic(analysis.positions, uri, d) for d in analysis.diagnostics]


# ---- positions to names ----------------------------------------------------------------------


def occurrence_at(analysis: Analysis, position: types.Position) -> Occurrence | None:
    if analysis.index is None:
        return None
    line, column = analysis.positions.place(position)
    return analysis.index.at(line, column)


def _location(analysis: Analysis, uri: str, span: Span) -> types.Location:
    return types.Location(uri=uri, range=analysis.positions.range(span))


# ---- hover -----------------------------------------------------------------------------------


@cache
def _explanations() -> dict[str, str]:
    """``pmc explain``'s text of every code and rule, read once."""
    return all_sections()


def _covers(analysis: Analysis, diagnostic: Diagnostic, position: types.Position) -> bool:
    span = diagnostic.span
    return (
        (span.line, span.column)
        <= analysis.positions.place(position)
        <= (
            span.end_line,
            span.end_column,
        )
    )


def hover(analysis: Analysis, position: types.Position) -> types.Hover | None:
    """The declaration of the name under the cursor and the explanation of any diagnostic there."""
    parts: list[str] = []
    occurrence = occurrence_at(analysis, position)
    symbol = analysis.index.definition(occurrence.symbol) if occurrence and analysis.index else None
    if symbol is not None:
        doc = f"\n\n{symbol.doc}" if symbol.doc else ""
        parts.append(f"```pmc\n{symbol.signature}\n```{doc}")
    for diagnostic in analysis.diagnostics:
        explanation = _explanations().get(diagnostic.id)
        if explanation and _covers(analysis, diagnostic, position):
            parts.append(explanation.strip())
    if not parts:
        return None
    content = types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts))
    return types.Hover(contents=content)


# ---- definition and references ---------------------------------------------------------------


def definition(analysis: Analysis, uri: str, position: types.Position) -> types.Location | None:
    occurrence = occurrence_at(analysis, position)
    if occurrence is None or analysis.index is None:
        return None
    symbol = analysis.index.definition(occurrence.symbol)
    if symbol is None:
        return None
    return _location(analysis, uri, symbol.span)


def references(
    analysis: Analysis, uri: str, position: types.Position, include_declaration: bool
) -> list[types.Location]:
    occurrence = occurrence_at(analysis, position)
    if occurrence is None or analysis.index is None:
        return []
    return [
        _location(analysis, uri, found.span)
        for found in analysis.index.references(occurrence.symbol)
        if include_declaration or not found.declaration
    ]


# ---- completion ------------------------------------------------------------------------------

_COMPLETION_KIND = {
    Kind.PROCESS: types.CompletionItemKind.Module,
    Kind.MACHINE: types.CompletionItemKind.Class,
    Kind.STATE: types.CompletionItemKind.EnumMember,
    Kind.TRANSITION: types.CompletionItemKind.Method,
    Kind.EVENT: types.CompletionItemKind.Event,
    Kind.SIGNAL: types.CompletionItemKind.Event,
    Kind.TASK: types.CompletionItemKind.Function,
    Kind.FIELD: types.CompletionItemKind.Field,
    Kind.RESULT: types.CompletionItemKind.Field,
    Kind.DATA: types.CompletionItemKind.Variable,
    Kind.INSTANCE: types.CompletionItemKind.Variable,
}


def completion(
    positions: Positions,
    position: types.Position,
    index: SymbolIndex | None,
    keywords_too: bool = True,
) -> list[types.CompletionItem]:
    """Completions at ``position``, names from ``index`` (maybe an older text's).

    Without ``keywords_too`` (the editor asked because a space, `.` or `>`
    was typed), only a slot that takes a name gets completions: a list of
    keywords after every space would be noise.
    """
    source = positions.source
    offset = source.offset(*positions.place(position))
    return [
        types.CompletionItem(
            label=found.label,
            kind=_COMPLETION_KIND[found.kind] if found.kind else types.CompletionItemKind.Keyword,
            detail=found.detail or (found.kind.value if found.kind else "keyword"),
        )
        for found in candidates(source.text[:offset], index, keywords_too)
    ]


# ---- outline ---------------------------------------------------------------------------------

_SYMBOL_KIND = {
    Kind.PROCESS: types.SymbolKind.Module,
    Kind.MACHINE: types.SymbolKind.Class,
    Kind.STATE: types.SymbolKind.EnumMember,
    Kind.TRANSITION: types.SymbolKind.Method,
    Kind.EVENT: types.SymbolKind.Event,
    Kind.SIGNAL: types.SymbolKind.Event,
    Kind.TASK: types.SymbolKind.Function,
    Kind.FIELD: types.SymbolKind.Field,
    Kind.RESULT: types.SymbolKind.Field,
    Kind.DATA: types.SymbolKind.Variable,
    Kind.INSTANCE: types.SymbolKind.Variable,
}


def document_symbols(analysis: Analysis) -> list[types.DocumentSymbol]:
    if analysis.index is None:
        return []
    positions = analysis.positions
    index = analysis.index

    def convert(node: Outline) -> types.DocumentSymbol:
        symbol = index.definition(node.symbol)
        return types.DocumentSymbol(
            name=node.symbol.name,
            kind=_SYMBOL_KIND[node.symbol.kind],
            range=positions.range(node.span),
            selection_range=positions.range(node.name_span),
            detail=symbol.type if symbol is not None and symbol.type else node.symbol.kind.value,
            children=[convert(child) for child in node.children] or None,
        )

    return [convert(index.outline)]


# ---- formatting ------------------------------------------------------------------------------


def formatting(analysis: Analysis) -> list[types.TextEdit] | None:
    """``pmc fmt``'s text as one edit of the whole document; None when the text does not parse."""
    if analysis.module is None:
        return None
    formatted = format_module(analysis.module, analysis.source)
    if formatted == analysis.source.text:
        return []
    whole = types.Range(start=types.Position(line=0, character=0), end=analysis.positions.end())
    return [types.TextEdit(range=whole, new_text=formatted)]


# ---- rename ----------------------------------------------------------------------------------

# What renaming a kind breaks: `pmc breaking`'s rule for it (recorded streams name them).
RENAME_BREAKS = {
    Kind.STATE: "STATE_NO_DELETE",
    Kind.TRANSITION: "TRANSITION_NO_DELETE",
    Kind.EVENT: "EVENT_NO_DELETE",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RenameRefused(PmcError):
    """The name under the cursor cannot be renamed, or not to that name; the message says why."""


@dataclass(frozen=True, slots=True)
class Renaming:
    edit: types.WorkspaceEdit
    warning: str  # what the rename breaks, for the user to read before saving


def rename_target(analysis: Analysis, position: types.Position) -> Occurrence:
    """The state, transition or event under the cursor; raises :class:`RenameRefused` otherwise."""
    occurrence = occurrence_at(analysis, position)
    if occurrence is None:
        raise RenameRefused("no state, transition or event here (or the file does not parse)")
    if occurrence.symbol.kind not in RENAME_BREAKS:
        raise RenameRefused(
            "only states, transitions and events can be renamed,"
            f" not a {occurrence.symbol.kind.value}"
        )
    return occurrence


def rename(analysis: Analysis, uri: str, position: types.Position, new_name: str) -> Renaming:
    occurrence = rename_target(analysis, position)
    if not _IDENTIFIER.fullmatch(new_name):
        raise RenameRefused(f"{new_name!r} is not a name")
    assert analysis.index is not None  # an occurrence was found in it
    symbol = occurrence.symbol
    if new_name in keywords():
        raise RenameRefused(f"{new_name!r} is a keyword")
    taken = analysis.index.definition(SymbolId(symbol.kind, symbol.owner, new_name))
    if taken is not None and new_name != symbol.name:
        raise RenameRefused(
            f"{symbol.kind.value} {new_name} already exists (line {taken.span.line})"
        )
    spans = [found.span for found in analysis.index.references(symbol)]
    _refuse_new_errors(analysis, symbol, _renamed(analysis.source, spans, new_name), new_name)
    edits = [
        types.TextEdit(range=analysis.positions.range(span), new_text=new_name) for span in spans
    ]
    rule = RENAME_BREAKS[symbol.kind]
    warning = (
        f"Renaming {symbol.kind.value} {symbol.name} to {new_name} breaks recorded streams "
        f"({rule}): instances recorded under the old name no longer load. "
        f"See `pmc explain {rule}`."
    )
    return Renaming(types.WorkspaceEdit(changes={uri: edits}), warning)


def _renamed(source: SourceFile, spans: list[Span], new_name: str) -> str:
    """``source``'s text with ``new_name`` at each of ``spans`` (one-line names)."""
    text = source.text
    for span in sorted(spans, reverse=True):  # from the end: earlier offsets stay valid
        start = source.offset(span.line, span.column)
        end = source.offset(span.end_line, span.end_column)
        text = text[:start] + new_name + text[end:]
    return text


def _refuse_new_errors(analysis: Analysis, symbol: SymbolId, renamed: str, new_name: str) -> None:
    """Refuse a rename ``pmc check`` would reject: the renamed text is checked with its rules.

    Events, tasks, machines and signals share one namespace (PM0101), an event
    is a class that must not shadow a type (`str`, `Decimal`, `None`), and
    more: asking the checker keeps these rules in one place. An error the
    text already had is not the rename's doing; one more of a code is.
    """
    before = Counter(d.id for d in analysis.diagnostics if d.severity is Severity.ERROR)
    after = check_source(SourceFile(analysis.source.path, renamed)).diagnostics
    for diagnostic in after:
        if diagnostic.severity is Severity.ERROR and before[diagnostic.id] > 0:
            before[diagnostic.id] -= 1
        elif diagnostic.severity is Severity.ERROR:
            raise RenameRefused(
                f"renaming {symbol.kind.value} {symbol.name} to {new_name} would not check:"
                f" {diagnostic.id} {diagnostic.message}"
            )
