"""The JSON-lines format of ``pmc export``: what a line holds, and reading it back strictly."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from event_sourcery import Event

from pmc.runtime.stores import NewEvent, ProcessStore
from pmc.streams.export import (
    ExportedEvent,
    ExportFormatError,
    export_streams,
    parse_json_line,
    read_json_lines,
    to_json_line,
)
from pmc.streams.replay import replay, store_streams
from tests.replay.support import BASE, compiled, definition, record_streams

EVENT = ExportedEvent(
    category="RpCleanup",
    key="r1",
    version=1,
    event_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
    created_at=datetime(2026, 3, 1, 9, 0, 0, 5, tzinfo=UTC),
    event="RpCleanup.RebaseFailed",
    payload={"rebase_id": "r1", "instances": ["A"], "nested": {"z": 1, "a": 2}},
)


class Legacy(Event):
    """An event a previous version of RpCleanup recorded; the current one has no class for it."""

    __event_name__ = "RpCleanup.Legacy"

    rebase_id: str


def test_a_line_holds_the_stream_the_event_and_its_payload_with_sorted_keys() -> None:
    assert to_json_line(EVENT) == (
        '{"category":"RpCleanup","key":"r1","version":1,'
        '"event_id":"00000000-0000-4000-8000-000000000001",'
        '"created_at":"2026-03-01T09:00:00.000005Z","event":"RpCleanup.RebaseFailed",'
        '"payload":{"instances":["A"],"nested":{"a":2,"z":1},"rebase_id":"r1"}}'
    )


def test_a_line_reads_back_as_the_same_event() -> None:
    assert parse_json_line(to_json_line(EVENT)) == EVENT


def test_text_that_is_not_valid_unicode_is_written_as_json_escapes() -> None:
    # Lone surrogates (os.fsdecode's '\udcff') have no UTF-8 form: the line
    # escapes them, and only them, so it can be written and reads back as it was.
    event = dataclasses.replace(EVENT, key="r\ud800", payload={"id": "ch-\udcff", "name": "é"})

    line = to_json_line(event)

    assert line.encode("utf-8")
    assert '"key":"r\\ud800"' in line
    assert '"payload":{"id":"ch-\\udcff","name":"é"}' in line
    assert parse_json_line(line) == event


def test_timestamps_are_written_in_utc_whatever_their_offset() -> None:
    paris = timezone(timedelta(hours=1))
    event = dataclasses.replace(EVENT, created_at=datetime(2026, 3, 1, 10, tzinfo=paris))

    assert '"created_at":"2026-03-01T09:00:00.000000Z"' in to_json_line(event)


def test_streams_are_exported_by_key_then_version(store: ProcessStore) -> None:
    rebase_failed = compiled(BASE).RebaseFailed
    for key in ("r9", "r10", "r1"):
        store.append("RpCleanup", key, [new(rebase_failed(rebase_id=key, instances=[]))], 0)
    store.append("RpCleanup", "r9", [new(rebase_failed(rebase_id="r9", instances=["X"]))], 1)

    exported = [(e.key, e.version) for e in export_streams(store, "RpCleanup")]

    assert exported == [("r1", 1), ("r10", 1), ("r9", 1), ("r9", 2)]


def test_export_of_chosen_keys_reads_only_those_streams(store: ProcessStore) -> None:
    record_streams(store)

    assert {e.key for e in export_streams(store, "RpCleanup", keys=["r2"])} == {"r2"}


def test_an_event_no_class_describes_still_exports_and_is_reported_where_it_is(
    store: ProcessStore,
) -> None:
    record_streams(store)
    version = store.version("RpCleanup", "r2")
    store.append("RpCleanup", "r2", [new(Legacy(rebase_id="r2"))], version)

    exported = list(export_streams(store, "RpCleanup", keys=["r2"]))
    report = replay(definition(), store_streams(store, "RpCleanup"))

    assert (exported[-1].event, exported[-1].payload) == ("RpCleanup.Legacy", {"rebase_id": "r2"})
    assert [(f.id, f.position.key, f.position.version) for f in report.findings] == [
        ("REPLAY_UNKNOWN_EVENT", "r2", version + 1)
    ]


def new(event: Event) -> NewEvent:
    return NewEvent(event, uuid.uuid4())


def test_blank_lines_are_skipped() -> None:
    line = to_json_line(EVENT)

    assert list(read_json_lines(["\n", line + "\n", "   \n"])) == [EVENT]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda line: line[:-1], "not JSON"),
        (lambda line: "[1, 2]", "expected a JSON object"),
        (lambda line: line.replace('"key":"r1",', ""), "missing key"),
        (lambda line: line.replace('"version":1', '"version":0'), "`version` must be"),
        (lambda line: line.replace('"version":1', '"version":true'), "`version` must be"),
        (lambda line: line.replace('"event_id":"0', '"event_id":"x'), "`event_id` must be"),
        (lambda line: line.replace("000005Z", "000005"), "must carry a UTC offset"),
        (lambda line: line.replace('"2026-03-01T', '"yesterday'), "ISO 8601"),
        (lambda line: line.replace('"category":"RpCleanup"', '"category":""'), "`category`"),
        (lambda line: line.split(',"payload"')[0] + ',"payload":[]}', "`payload` must be"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number(
    change: Callable[[str], str], reason: str
) -> None:
    lines = [to_json_line(EVENT), change(to_json_line(EVENT))]

    with pytest.raises(ExportFormatError) as raised:
        list(read_json_lines(lines))

    assert raised.value.line == 2
    assert reason in raised.value.reason
