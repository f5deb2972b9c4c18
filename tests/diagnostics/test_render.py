"""Text rendering of long source lines: a window around the marks, carets aligned."""

from __future__ import annotations

import json
import unicodedata

from pmc.diagnostics import Diagnostic, Label
from pmc.diagnostics.render import (
    MAX_SHOWN_COLUMNS,
    DiagnosticReport,
    render_concise,
    render_github,
    render_json,
    render_text,
)
from pmc.source import SourceFile, Span


def _render(text: str, diagnostic: Diagnostic) -> list[str]:
    return render_text(DiagnosticReport(SourceFile("long.pm", text), (diagnostic,))).splitlines()


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
    out = render_text(DiagnosticReport(SourceFile("long.pm", text), (diagnostic,)))
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
        labels=(Label(Span(1, 18, 1, 23), "field type declared here"),),
    )
    source_line, caret, dashes = _render(text, diagnostic)[3:6]
    assert _caret_target(source_line, caret).startswith("1111")
    assert _caret_target(source_line, dashes, "-") == "float"


def test_tabs_in_a_long_line_keep_carets_aligned() -> None:
    text = "\t" * 50 + "Strng" + " " * 500 + "\n"
    lines = _render(text, Diagnostic("PM0205", "unknown type", Span(1, 51, 1, 56)))
    assert _caret_target(lines[3], lines[4]) == "Strng"


# ---- terminal safety (issue #8, item 12) ------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[8m\u202e\u2066\x9b\x7f\x00"


def _all_formats(text: str, diagnostic: Diagnostic) -> dict[str, str]:
    report = DiagnosticReport(SourceFile(f"a{HOSTILE}.pm", text), (diagnostic,))
    return {
        "text": render_text(report),
        "concise": render_concise(report),
        "github": render_github(report),
        "json": render_json([report]),
    }


def _unsafe(text: str) -> list[str]:
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf")]


def test_escape_sequences_and_bidi_controls_are_never_printed_raw() -> None:
    text = f"event E {{ a: Strng }}  # {HOSTILE}\n"
    diagnostic = Diagnostic(
        "PM0205",
        f"unknown type `{HOSTILE}`",
        Span(1, 14, 1, 19),
        label=f"label {HOSTILE}",
        labels=(Label(Span(1, 1, 1, 6), f"secondary {HOSTILE}"),),
        notes=(f"note {HOSTILE}",),
        help=f"help {HOSTILE}",
    )
    for rendered in _all_formats(text, diagnostic).values():
        assert _unsafe(rendered) == []
    shown = _render(text, diagnostic)
    assert (
        shown[3]
        == r"1 | event E { a: Strng }  # \x1b]0;pwned\x07\x1b[2J\x1b[8m\u202e\u2066\x9b\x7f\x00"
    )
    assert r"unknown type `\x1b]0;pwned" in shown[0]


def test_json_escapes_unsafe_characters_without_losing_them() -> None:
    text = f"event E {{ a: Strng }}  # {HOSTILE}\n"
    diagnostic = Diagnostic("PM0205", f"unknown `{HOSTILE}`", Span(1, 14, 1, 19))
    rendered = _all_formats(text, diagnostic)["json"]
    [item] = json.loads(rendered)
    assert item["message"] == f"unknown `{HOSTILE}`"
    assert item["path"] == f"a{HOSTILE}.pm"


def test_the_caret_sits_under_its_text_after_wide_characters() -> None:
    text = 'event 事件 { a: str = "😀😀" b: Strng }\n'
    column = text.index("Strng") + 1
    lines = _render(text, Diagnostic("PM0205", "unknown type", Span(1, column, 1, column + 5)))
    source, marker = lines[3], lines[4]
    # Each wide character takes two cells, so the caret moves right by one per character.
    cells = wcwidth_like(source[: source.index("Strng")])
    assert marker.index("^") == cells
    assert marker.count("^") == 5


def test_a_wide_character_under_a_caret_is_marked_with_two_cells() -> None:
    text = "process 进程 {}\n"
    lines = _render(text, Diagnostic("PM0003", "not ASCII", Span(1, 9, 1, 10)))
    assert lines[4] == "  |         ^^"


def test_an_escaped_character_under_a_caret_is_marked_whole() -> None:
    text = "key k \x1b[2J\n"
    lines = _render(text, Diagnostic("PM0003", "unexpected", Span(1, 7, 1, 8)))
    assert lines[3] == r"1 | key k \x1b[2J"
    assert lines[4] == "  |       ^^^^"


def test_a_long_line_of_wide_characters_is_cut_by_cells() -> None:
    text = "进" * 500 + " Strng " + "程" * 500 + "\n"
    lines = _render(text, Diagnostic("PM0205", "unknown type", Span(1, 502, 1, 507)))
    source, marker = lines[3], lines[4]
    assert wcwidth_like(source) <= len("1 | ") + 3 + MAX_SHOWN_COLUMNS + 3
    assert marker.index("^") == wcwidth_like(source[: source.index("Strng")])


def wcwidth_like(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)
