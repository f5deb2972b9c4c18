"""How a replay report is printed: text lines, the summary, JSON and GitHub annotations."""

from __future__ import annotations

import json

from pmc.cli.replay import findings_report, render_json, summary_line
from pmc.diagnostics import Diagnostic, StreamPosition
from pmc.diagnostics.render import render_github, render_text
from pmc.streams.replay import ReplayReport, StreamReplay


def finding(
    code: str, category: str, key: str, version: int, event: str | None, message: str
) -> Diagnostic:
    return Diagnostic(code, message, StreamPosition(category, key, version, event))


GAP = finding(
    "REPLAY_VERSION_GAP", "RpCleanup", "r2", 6, "RpCleanup.TaskStarted", "version 5 missing"
)
UNKNOWN = finding(
    "REPLAY_UNKNOWN_EVENT", "RpCleanup", "r2", 7, "RpCleanup.Gone", "`RpCleanup.Gone` is unknown"
)
REPORT = ReplayReport(
    (
        StreamReplay("RpCleanup", "r1", 10, (), None),
        StreamReplay("RpCleanup", "r2", 9, (GAP, UNKNOWN), None),
    )
)


def test_text_is_one_line_per_finding_naming_key_and_version() -> None:
    assert render_text(findings_report(REPORT)) == (
        "r2@6: error[REPLAY_VERSION_GAP]: version 5 missing\n"
        "r2@7: error[REPLAY_UNKNOWN_EVENT]: `RpCleanup.Gone` is unknown\n"
    )


def test_the_summary_counts_streams_events_and_failing_streams() -> None:
    assert summary_line(REPORT) == "2 streams, 19 events, 1 failure"
    assert summary_line(ReplayReport(REPORT.streams[:1])) == "1 stream, 10 events, 0 failures"


def test_json_holds_the_summary_and_every_finding() -> None:
    document = json.loads(render_json(REPORT))

    assert {k: document[k] for k in ("streams", "events", "failures")} == {
        "streams": 2,
        "events": 19,
        "failures": 1,
    }
    assert document["findings"][1] == {
        "code": "REPLAY_UNKNOWN_EVENT",
        "severity": "error",
        "category": "RpCleanup",
        "key": "r2",
        "version": 7,
        "event": "RpCleanup.Gone",
        "message": "`RpCleanup.Gone` is unknown",
    }


def test_github_annotations_carry_the_rule_as_title_and_the_stream_in_the_message() -> None:
    assert render_github(findings_report(REPORT)).splitlines()[0] == (
        "::error title=REPLAY_VERSION_GAP::RpCleanup/r2@6: version 5 missing"
    )


def test_keys_and_messages_from_payloads_reach_the_terminal_escaped() -> None:
    # A stream key and a machine id come from event payloads: untrusted text.
    hostile = "k\x1b[31mEVIL\u202e"
    hostile_finding = finding(
        "REPLAY_STATE_MISMATCH", "Rep", hostile, 1, "Rep.Go", f"instance `{hostile}` is in `A`"
    )
    report = ReplayReport((StreamReplay("Rep", hostile, 1, (hostile_finding,), None),))

    for rendered in (render_text(findings_report(report)), render_github(findings_report(report))):
        assert "\x1b" not in rendered
        assert "\u202e" not in rendered
        assert "k\\x1b[31mEVIL\\u202e@1" in rendered
