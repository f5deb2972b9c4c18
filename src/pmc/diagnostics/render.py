"""Diagnostics as text (rustc style), concise lines, JSON and GitHub annotations.

One renderer per format serves every command: a diagnostic located in a
source file is shown with its path, line and column (and, as text, its source
lines under carets); one located in a recorded stream is shown with its
stream and version, as ``KEY@VERSION``. Pure functions from data to strings;
the CLI decides where they go.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# escape_text is re-exported: commands import it with the renderers.
from pmc.diagnostics.escapes import NOT_PLAIN, escape_char, is_unsafe
from pmc.diagnostics.escapes import escape_text as escape_text
from pmc.diagnostics.model import Diagnostic, StreamPosition, plural_word
from pmc.diagnostics.registry import Severity
from pmc.source import SourceFile, Span

_TAB = "    "


@dataclass(frozen=True, slots=True)
class DiagnosticReport:
    """Diagnostics reported together, in order: those of one source file, or of streams.

    ``source`` is the file the diagnostics' spans point into; None when they
    are located in recorded streams.
    """

    source: SourceFile | None
    diagnostics: tuple[Diagnostic, ...]


def render_text(report: DiagnosticReport) -> str:
    return "".join(
        _render_one(report.source, d)
        if report.source is not None and isinstance(d.location, Span)
        else _line(report, d)
        for d in report.diagnostics
    )


def _render_one(source: SourceFile, diagnostic: Diagnostic) -> str:
    span = diagnostic.span
    annotated = [(span, "^", diagnostic.label)]
    annotated += [(label.span, "-", label.message) for label in diagnostic.labels]
    lines = sorted({s.line for s, _, _ in annotated})
    gutter = " " * len(str(max(lines)))
    out = [
        f"{_headline(diagnostic)}\n",
        f"{gutter}--> {escape_text(source.path)}:{span.line}:{span.column}\n",
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
        out.append(f"{gutter} = note: {escape_text(note)}\n")
    if diagnostic.help:
        out.append(f"{gutter} = help: {escape_text(diagnostic.help)}\n")
    out.append("\n")
    return "".join(out)


# ---- what a terminal is shown: see pmc.diagnostics.escapes ---------------------------


def _shown(char: str, *, tab: str = _TAB) -> str:
    """How one character of a source line is shown."""
    if char == "\t":
        return tab
    return escape_char(char) if is_unsafe(char) else char


def _cell_width(char: str) -> int:
    """Terminal cells taken by the shown form of ``char``: 2 for wide (CJK, emoji)."""
    if char == "\t" or is_unsafe(char):
        return len(_shown(char))
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    """Terminal cells taken by ``text`` as shown."""
    return len(text) + sum(_cell_width(m.group()) - 1 for m in NOT_PLAIN.finditer(text))


# A source line wider than this many cells is shown cut to a window of at
# most that width around what is marked, with `...` where it was cut: a 1 MB
# line would otherwise be printed whole, and its carets after it.
MAX_SHOWN_COLUMNS = 100
# Characters shown before the first mark when the line has to be cut.
_CONTEXT_COLUMNS = 20
_CUT = "..."


@dataclass(frozen=True, slots=True)
class _Window:
    """The part of one source line that is shown: characters ``start`` to ``end``."""

    raw: str  # the whole line as in the file
    number: int
    start: int
    end: int

    @staticmethod
    def of(source: SourceFile, line: int, spans: Sequence[Span]) -> _Window:
        raw = source.line_text(line)
        if _width(raw) <= MAX_SHOWN_COLUMNS:
            return _Window(raw, line, 0, len(raw))
        first = min((min(s.column - 1, len(raw)) for s in spans), default=0)
        # Near the end of the line, start early enough to fill the window.
        last_full, width = len(raw), 0
        while last_full > 0 and width + _cell_width(raw[last_full - 1]) <= MAX_SHOWN_COLUMNS:
            width += _cell_width(raw[last_full - 1])
            last_full -= 1
        start = max(0, min(first - _CONTEXT_COLUMNS, last_full))
        end, width = start, 0
        while end < len(raw) and width + _cell_width(raw[end]) <= MAX_SHOWN_COLUMNS:
            width += _cell_width(raw[end])
            end += 1
        return _Window(raw, line, start, end)

    @property
    def lead(self) -> str:
        return _CUT if self.start > 0 else ""

    def shown(self) -> str:
        tail = _CUT if self.end < len(self.raw) else ""
        text = "".join(_shown(char) for char in self.raw[self.start : self.end])
        return f"{self.lead}{text}{tail}"

    def offset(self, index: int) -> int:
        """The cell of :meth:`shown` where character ``index`` (0-based) of the line falls."""
        index = max(index, self.start)
        if self.end < len(self.raw):  # cut on the right: marks stop at the cut
            index = min(index, self.end)
        inside = min(index, self.end)
        past_the_end = index - inside  # a mark after the last character (end of file)
        return len(self.lead) + _width(self.raw[self.start : inside]) + past_the_end


def _source_line(window: _Window, gutter: str) -> str:
    number = str(window.number).rjust(len(gutter))
    return f"{number} | {window.shown()}".rstrip() + "\n"


def _marker_line(window: _Window, span: Span, mark: str, label: str, gutter: str) -> str:
    start = span.column - 1
    end = span.end_column - 1 if span.end_line == span.line else len(window.raw)
    left = window.offset(start)
    width = max(window.offset(end) - left, 1)
    suffix = f" {escape_text(label)}" if label else ""
    return f"{gutter} | {' ' * left}{mark * width}{suffix}\n"


def _headline(diagnostic: Diagnostic) -> str:
    return f"{diagnostic.severity}[{diagnostic.id}]: {escape_text(diagnostic.message)}"


def _where(report: DiagnosticReport, diagnostic: Diagnostic) -> str:
    """``path:line:col`` in a file, ``KEY@VERSION`` in a stream."""
    where = diagnostic.location
    if isinstance(where, StreamPosition):
        return f"{escape_text(where.key)}@{where.version}"
    path = report.source.path if report.source is not None else ""
    return f"{escape_text(path)}:{where.line}:{where.column}"


def _line(report: DiagnosticReport, diagnostic: Diagnostic) -> str:
    return f"{_where(report, diagnostic)}: {_headline(diagnostic)}\n"


def render_concise(report: DiagnosticReport) -> str:
    return "".join(_line(report, d) for d in report.diagnostics)


def _json_span(span: Span) -> dict[str, int]:
    return {
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


def diagnostic_json(source: SourceFile | None, diagnostic: Diagnostic) -> dict[str, Any]:
    """One diagnostic as a JSON object.

    In a file: where (``path``, ``span``) and everything shown under it
    (``label``, ``secondary``, ``notes``, ``help``). In a stream: the stream
    position (``category``, ``key``, ``version``, ``event``).
    """
    where = diagnostic.location
    head = {"code": diagnostic.id, "severity": str(diagnostic.severity)}
    if isinstance(where, StreamPosition):
        return {
            **head,
            "category": where.category,
            "key": where.key,
            "version": where.version,
            "event": where.event,
            "message": diagnostic.message,
        }
    return {
        "path": source.path if source is not None else None,
        **head,
        "message": diagnostic.message,
        "span": _json_span(where),
        "label": diagnostic.label,
        "secondary": [
            {"span": _json_span(label.span), "message": label.message}
            for label in diagnostic.labels
        ],
        "notes": list(diagnostic.notes),
        "help": diagnostic.help,
    }


def render_json(reports: Sequence[DiagnosticReport]) -> str:
    return json_text([diagnostic_json(r.source, d) for r in reports for d in r.diagnostics])


def json_text(document: object) -> str:
    """``document`` as indented JSON, every unsafe character escaped."""
    # Imported here: only JSON output (`--format json`, `pmc replay`) needs it,
    # and `pmc check` starts faster without it (issue 11).
    import json

    text = json.dumps(document, indent=2, ensure_ascii=False)
    # The same text, with unsafe characters as JSON escapes: nothing is lost,
    # and a terminal showing the JSON is as safe as with the other formats.
    return NOT_PLAIN.sub(lambda m: _json_char(m.group()), text) + "\n"


def _json_char(char: str) -> str:
    import json  # loaded by json_text, the only caller

    # A raw newline is the indentation's; json.dumps escapes those in strings.
    return json.dumps(char)[1:-1] if char != "\n" and is_unsafe(char) else char


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: DiagnosticReport) -> str:
    """GitHub Actions workflow commands: one annotation per diagnostic.

    A diagnostic in a stream has no file to attach to: its annotation names
    the stream in the message instead.
    """
    return "".join(_annotation(report, d) for d in report.diagnostics)


def _annotation(report: DiagnosticReport, d: Diagnostic) -> str:
    command = "error" if d.severity is Severity.ERROR else "warning"
    where = d.location
    message = d.message + (f" (help: {d.help})" if d.help else "")
    if isinstance(where, StreamPosition):
        properties = [f"title={_escape_property(d.id)}"]
        message = f"{where.category}/{where.key}@{where.version}: {message}"
    else:
        path = report.source.path if report.source is not None else ""
        properties = [
            f"file={_escape_property(escape_text(path))}",
            f"line={where.line}",
            f"col={where.column}",
            f"endLine={where.end_line}",
            f"endColumn={where.end_column}",
            f"title={_escape_property(d.id)}",
        ]
    return f"::{command} {','.join(properties)}::{_escape_data(escape_text(message))}\n"


def summary_line(reports: Sequence[DiagnosticReport]) -> str:
    errors = sum(1 for r in reports for d in r.diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for r in reports for d in r.diagnostics if d.severity is Severity.WARNING)
    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"


def plural(count: int, word: str) -> str:
    """``1 error``, ``2 errors``: the one plural of every summary."""
    return f"{count} {plural_word(count, word)}"
