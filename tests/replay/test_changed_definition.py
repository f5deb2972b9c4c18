"""A changed process replayed over the streams its previous version recorded.

Each changed version keeps the process name, as a deploy would; the streams
are those BASE recorded. This is what ``pmc replay`` guards in CI.
"""

from __future__ import annotations

from pmc.streams.export import ExportedEvent
from pmc.streams.replay import ReplayReport, group_streams, replay
from tests.replay.support import definition, edit, find

Recorded = tuple[ExportedEvent, ...]


def replay_with(text: str, recorded: Recorded) -> ReplayReport:
    return replay(definition(text), group_streams(recorded))


def located(report: ReplayReport) -> list[tuple[str, str, int]]:
    return [(f.id, f.position.key, f.position.version) for f in report.findings]


def test_a_compatible_change_replays_cleanly(recorded: Recorded) -> None:
    changed = edit(
        ('reason: str = "rebase failed"', 'reason: str = "rebase failed"\n        note: str = ""'),
        (
            "    task CloseInstance",
            "    event Skipped { rebase_id: str  instances: list[str] }\n\n    task CloseInstance",
        ),
        (
            "        transition give_up",
            "        transition skip: Working -> Closed on Skipped.instances\n"
            "        transition give_up",
        ),
    )

    assert replay_with(changed, recorded).ok


def test_a_removed_state_flags_the_streams_that_entered_it(recorded: Recorded) -> None:
    changed = edit(
        ("states Working, Closing, Closed, Failed", "states Working, Closing, Closed"),
        ("final Closed, Failed", "final Closed"),
        ("give_up: Closing -> Failed", "give_up: Closing -> Closed"),
        ("    fail when any Instance in Failed\n", ""),
    )

    report = replay_with(changed, recorded)

    give_up = find(recorded, "r2", "TransitionPlanned", transition="give_up")
    assert located(report) == [("REPLAY_UNKNOWN_STATE", "r2", give_up.version)]
    assert report.findings[0].message == "machine `Instance` has no state `Failed`"
    assert [s.key for s in report.streams if s.ok] == ["r1"]  # r1 never entered it


def test_a_changed_event_field_type_flags_every_recorded_input(recorded: Recorded) -> None:
    changed = edit(("instances: list[str]", "instances: list[int]"))

    report = replay_with(changed, recorded)

    assert located(report) == [
        ("REPLAY_INVALID_PAYLOAD", "r1", 1),
        ("REPLAY_INVALID_PAYLOAD", "r2", 1),
    ]
    assert report.findings[0].message.startswith("field `instances.0`: Input should be a valid")


def test_a_changed_task_field_type_flags_the_recorded_task_inputs(recorded: Recorded) -> None:
    changed = edit(
        ("        reason: str\n        retry 1", "        reason: int\n        retry 1"),
        ("run CloseInstance(reason = event.reason)", "run CloseInstance(reason = 1)"),
    )

    report = replay_with(changed, recorded)

    assert {(f.id, f.position.key) for f in report.findings} == {
        ("REPLAY_INVALID_TASK_INPUT", "r1"),
        ("REPLAY_INVALID_TASK_INPUT", "r2"),
    }
    assert len(report.findings) == 3  # one per recorded `close`: A, B and C


def test_a_renamed_transition_flags_where_it_was_taken(recorded: Recorded) -> None:
    changed = edit(("transition give_up:", "transition abandon:"))

    report = replay_with(changed, recorded)

    give_up = find(recorded, "r2", "TransitionPlanned", transition="give_up")
    assert located(report) == [("REPLAY_UNKNOWN_TRANSITION", "r2", give_up.version)]


def test_a_new_initial_state_flags_transitions_recorded_from_the_old_one(
    recorded: Recorded,
) -> None:
    changed = edit(
        ("states Working,", "states Pending, Working,"),
        ("initial Working", "initial Pending"),
        (
            "    task CloseInstance",
            "    event Woken { rebase_id: str  instances: list[str] }\n\n    task CloseInstance",
        ),
        (
            "        transition close:",
            "        transition wake: Pending -> Working on Woken.instances\n"
            "        transition close:",
        ),
    )

    report = replay_with(changed, recorded)

    assert located(report) == [
        ("REPLAY_STATE_MISMATCH", "r1", 2),
        ("REPLAY_STATE_MISMATCH", "r2", 2),
    ]
    assert report.findings[0].message.endswith("is in `Pending`")


def test_a_renamed_process_flags_every_stream_of_the_old_name(recorded: Recorded) -> None:
    changed = edit(("process RpCleanup", "process RpTidy"))

    report = replay_with(changed, recorded)

    assert located(report) == [
        ("REPLAY_UNKNOWN_CATEGORY", "r1", 1),
        ("REPLAY_UNKNOWN_CATEGORY", "r2", 1),
    ]
