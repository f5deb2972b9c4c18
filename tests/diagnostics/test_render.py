"""Text rendering of long source lines: a window around the marks, carets aligned."""

from __future__ import annotations

from pmc.diagnostics import Diagnostic, Label
from pmc.diagnostics.render import MAX_SHOWN_COLUMNS, FileDiagnostics, render_text
from pmc.source import SourceFile, Span


def _render(text: str, diagnostic: Diagnostic) -> list[str]:
    return render_text(FileDiagnostics(SourceFile("long.pm", text), (diagnostic,))).splitlines()


def _caret_target(source_line: str, marker_line: str, mark: str = "^") -> str:
    """The text of the source line above the first ``mark`` of the marker line."""
    start = marker_line.index(mark)
    return source_line[start : marker_line.rindex(mark) + 1]


def test_a_short_line_is_shown_whole() -> None:
    text = "event E { a: Strng }\n"
    lines = _render(text, Diagnostic("PM0205", "unknown type", Span(1, 14, 1, 19), label="here"))
    assert lines[3:5] == ["1 | event E { a: Strng }", "  |              ^^^^^ here"]


def test_a_megabyte_line_is_cut_to_a_window_around_the_span() -> None:
    text = "x" * 500_000 + " Strng " + "y" * 500_000 + "\n"
    column = 500_002
    diagnostic = Diagnostic("PM0205", "unknown type", Span(1, column, 1, column + 5), label="here")
    out = render_text(FileDiagnostics(SourceFile("long.pm", text), (diagnostic,)))
    assert len(out) < 1000
    source_line, marker_line = out.splitlines()[3:5]
    assert source_line.startswith("1 | ...x") and source_line.endswith("y...")
    assert len(source_line) == len("1 | ") + 3 + MAX_SHOWN_COLUMNS + 3
    assert _caret_target(source_line, marker_line) == "Strng"
    assert marker_line.endswith("^^^^^ here")


def test_a_span_at_the_start_or_the_end_of_a_long_line() -> None:
    text = "Strng " + "y" * 1000 + " Endd\n"
    start = _render(text, Diagnostic("PM0205", "unknown type", Span(1, 1, 1, 6)))
    assert start[3].startswith("1 | Strng yyy") and start[3].endswith("y...")
    assert _caret_target(start[3], start[4]) == "Strng"
    end = _render(text, Diagnostic("PM0205", "unknown type", Span(1, 1008, 1, 1012)))
    assert end[3].startswith("1 | ...yyy") and end[3].endswith("yy Endd")
    assert _caret_target(end[3], end[4]) == "Endd"


def test_a_span_longer_than_the_window_stops_at_the_cut() -> None:
    text = "a = " + "9" * 5000 + "\n"
    lines = _render(text, Diagnostic("PM0006", "too large", Span(1, 5, 1, 5005)))
    assert lines[3].endswith("9...")
    assert lines[4] == "  |     " + "^" * (MAX_SHOWN_COLUMNS - 4)


def test_a_secondary_label_on_the_same_long_line_stays_aligned() -> None:
    text = "    event E { n: float = " + "1" * 2000 + ".0 }\n"
    diagnostic = Diagnostic(
        "PM0504",
        "does not fit a float",
        Span(1, 26, 1, 2028),
        secondary=(Label(Span(1, 18, 1, 23), "field type declared here"),),
    )
    source_line, caret, dashes = _render(text, diagnostic)[3:6]
    assert _caret_target(source_line, caret).startswith("1111")
    assert _caret_target(source_line, dashes, "-") == "float"


def test_tabs_in_a_long_line_keep_carets_aligned() -> None:
    text = "\t" * 50 + "Strng" + " " * 500 + "\n"
    lines = _render(text, Diagnostic("PM0205", "unknown type", Span(1, 51, 1, 56)))
    assert _caret_target(lines[3], lines[4]) == "Strng"
