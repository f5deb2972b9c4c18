"""Streams recorded by the runtime replay cleanly, from the store and through an export."""

from __future__ import annotations

from pmc.runtime import End, ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.streams.export import export_streams, read_json_lines, to_json_line
from pmc.streams.replay import group_streams, replay, store_streams
from tests.replay.support import definition, record_streams


def test_recorded_streams_replay_cleanly_from_the_store(store: ProcessStore) -> None:
    record_streams(store)

    report = replay(definition(), store_streams(store, "RpCleanup"))

    assert report.ok, report.findings
    assert [(s.key, s.events) for s in report.streams] == [
        ("r1", store.version("RpCleanup", "r1")),
        ("r2", store.version("RpCleanup", "r2")),
    ]
    assert report.events == 19


def test_replay_folds_to_the_state_the_runtime_holds(store: ProcessStore) -> None:
    record_streams(store)
    manager = ProcessManager(definition(), store)

    report = replay(definition(), store_streams(store, "RpCleanup"))

    for stream in report.streams:
        assert stream.state == manager.state(stream.key)
    ends = {s.key: s.state.end for s in report.streams if s.state is not None}
    assert ends == {"r1": End.COMPLETED, "r2": End.FAILED}


def test_an_export_read_back_replays_like_the_store(store: ProcessStore) -> None:
    record_streams(store)
    lines = [to_json_line(event) + "\n" for event in export_streams(store, "RpCleanup")]

    from_file = replay(definition(), group_streams(read_json_lines(lines)))
    from_store = replay(definition(), store_streams(store, "RpCleanup"))

    assert from_file.ok
    assert from_file == from_store


def test_replay_can_be_limited_to_some_keys(store: ProcessStore) -> None:
    record_streams(store)

    report = replay(definition(), store_streams(store, "RpCleanup", keys=["r2"]))

    assert [s.key for s in report.streams] == ["r2"]
