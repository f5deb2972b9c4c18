"""Diagnostics as text (rustc style), concise lines, JSON and GitHub annotations.

Pure functions from data to strings; the CLI decides where they go.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pmc.diagnostics.model import Diagnostic, Severity
from pmc.source import SourceFile, Span

_TAB = "    "


@dataclass(frozen=True, slots=True)
class FileDiagnostics:
    """The diagnostics of one source file, in the order they are reported."""

    source: SourceFile
    diagnostics: tuple[Diagnostic, ...]


def render_text(report: FileDiagnostics) -> str:
    return "".join(_render_one(report.source, d) for d in report.diagnostics)


def _render_one(source: SourceFile, diagnostic: Diagnostic) -> str:
    span = diagnostic.span
    annotated = [(span, "^", diagnostic.label)]
    annotated += [(label.span, "-", label.message) for label in diagnostic.secondary]
    lines = sorted({s.line for s, _, _ in annotated})
    gutter = " " * len(str(max(lines)))
    out = [
        f"{diagnostic.severity}[{diagnostic.code}]: {diagnostic.message}\n",
        f"{gutter}--> {source.path}:{span.line}:{span.column}\n",
        f"{gutter} |\n",
    ]
    previous: int | None = None
    for line in lines:
        if previous is not None and line > previous + 1:
            out.append(f"{gutter} ...\n" if line > previous + 2 else "")
            if line == previous + 2:
                out.append(_source_line(_Window.of(source, previous + 1, ()), gutter))
        marks = [(marked, mark, label) for marked, mark, label in annotated if marked.line == line]
        window = _Window.of(source, line, [marked for marked, _, _ in marks])
        out.append(_source_line(window, gutter))
        for marked, mark, label in marks:
            out.append(_marker_line(window, marked, mark, label, gutter))
        previous = line
    for note in diagnostic.notes:
        out.append(f"{gutter} = note: {note}\n")
    if diagnostic.help:
        out.append(f"{gutter} = help: {diagnostic.help}\n")
    out.append("\n")
    return "".join(out)


# A source line longer than this many columns is shown cut to a window of
# that width around what is marked, with `...` where it was cut: a 1 MB line
# would otherwise be printed whole, and its carets after it.
MAX_SHOWN_COLUMNS = 100
# Columns shown before the first mark when the line has to be cut.
_CONTEXT_COLUMNS = 20
_CUT = "..."


@dataclass(frozen=True, slots=True)
class _Window:
    """The part of one source line that is shown, in display columns (tabs expanded)."""

    text: str  # the whole line, tabs expanded
    raw: str  # the whole line as in the file, for mapping columns
    number: int
    start: int
    end: int

    @staticmethod
    def of(source: SourceFile, line: int, spans: Sequence[Span]) -> _Window:
        raw = source.line_text(line)
        text = raw.replace("\t", _TAB)
        if len(text) <= MAX_SHOWN_COLUMNS:
            return _Window(text, raw, line, 0, len(text))
        first = min((_display_column(raw, s.column) for s in spans), default=0)
        start = max(0, min(first - _CONTEXT_COLUMNS, len(text) - MAX_SHOWN_COLUMNS))
        return _Window(text, raw, line, start, start + MAX_SHOWN_COLUMNS)

    @property
    def lead(self) -> str:
        return _CUT if self.start > 0 else ""

    def shown(self) -> str:
        tail = _CUT if self.end < len(self.text) else ""
        return f"{self.lead}{self.text[self.start : self.end]}{tail}"

    def offset(self, column: int) -> int:
        """Where display column ``column`` of the line falls in :meth:`shown`."""
        shown = max(column - self.start, 0)
        if self.end < len(self.text):  # cut on the right: marks stop at the cut
            shown = min(shown, self.end - self.start)
        return len(self.lead) + shown


def _source_line(window: _Window, gutter: str) -> str:
    number = str(window.number).rjust(len(gutter))
    return f"{number} | {window.shown()}".rstrip() + "\n"


def _display_column(text: str, column: int) -> int:
    """0-based display offset of a 1-based column, tabs expanded like the line."""
    prefix = text[: max(column - 1, 0)]
    return len(prefix.replace("\t", _TAB))


def _marker_line(window: _Window, span: Span, mark: str, label: str, gutter: str) -> str:
    start = _display_column(window.raw, span.column)
    if span.end_line == span.line:
        end = _display_column(window.raw, span.end_column)
    else:
        end = len(window.text)
    left = window.offset(start)
    width = max(window.offset(end) - left, 1)
    suffix = f" {label}" if label else ""
    return f"{gutter} | {' ' * left}{mark * width}{suffix}\n"


def render_concise(report: FileDiagnostics) -> str:
    return "".join(
        f"{report.source.path}:{d.span.line}:{d.span.column}: {d.severity}[{d.code}]: {d.message}\n"
        for d in report.diagnostics
    )


def _json_span(span: Span) -> dict[str, int]:
    return {
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


def diagnostic_json(path: str, diagnostic: Diagnostic) -> dict[str, Any]:
    return {
        "path": path,
        "code": diagnostic.code,
        "severity": str(diagnostic.severity),
        "message": diagnostic.message,
        "span": _json_span(diagnostic.span),
        "label": diagnostic.label,
        "secondary": [
            {"span": _json_span(label.span), "message": label.message}
            for label in diagnostic.secondary
        ],
        "notes": list(diagnostic.notes),
        "help": diagnostic.help,
    }


def render_json(reports: Sequence[FileDiagnostics]) -> str:
    items = [diagnostic_json(r.source.path, d) for r in reports for d in r.diagnostics]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: FileDiagnostics) -> str:
    """GitHub Actions workflow commands: one annotation per diagnostic."""
    out = []
    for d in report.diagnostics:
        command = "error" if d.severity is Severity.ERROR else "warning"
        properties = ",".join(
            [
                f"file={_escape_property(report.source.path)}",
                f"line={d.span.line}",
                f"col={d.span.column}",
                f"endLine={d.span.end_line}",
                f"endColumn={d.span.end_column}",
                f"title={_escape_property(d.code)}",
            ]
        )
        message = d.message + (f" (help: {d.help})" if d.help else "")
        out.append(f"::{command} {properties}::{_escape_data(message)}\n")
    return "".join(out)


def summary_line(reports: Sequence[FileDiagnostics]) -> str:
    errors = sum(1 for r in reports for d in r.diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for r in reports for d in r.diagnostics if d.severity is Severity.WARNING)
    return f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
