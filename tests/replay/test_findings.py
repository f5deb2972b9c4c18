"""Each way a recorded stream can fail to replay is reported with its stream key and version.

The streams are those BASE records (``recorded``), edited the way a changed
process or a damaged export would leave them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest
from event_sourcery import Event

from pmc.runtime import ProcessDefinition, ProcessState
from pmc.streams.export import ExportedEvent
from pmc.streams.replay import ReplayReport, group_streams, replay
from tests.replay.support import at, definition, find, finding, replace_event, with_payload

Recorded = tuple[ExportedEvent, ...]


def run(events: Iterable[ExportedEvent], process: ProcessDefinition | None = None) -> ReplayReport:
    return replay(process or definition(), group_streams(events))


def located(report: ReplayReport) -> list[tuple[str, str, int]]:
    return [(f.id, f.position.key, f.position.version) for f in report.findings]


def test_the_recorded_streams_replay_cleanly(recorded: Recorded) -> None:
    report = run(recorded)

    assert report.ok
    assert (len(report.streams), report.events, report.failures) == (2, 19, 0)


def test_an_unknown_event_name(recorded: Recorded) -> None:
    target = at(recorded, "r2", 4)
    renamed = dataclasses.replace(target, event="RpCleanup.TaskExploded")

    report = run(replace_event(list(recorded), target, lambda _: renamed))

    assert report.findings == (
        finding(
            "REPLAY_UNKNOWN_EVENT",
            "RpCleanup",
            "r2",
            4,
            "RpCleanup.TaskExploded",
            "`RpCleanup.TaskExploded` is not an event of process `RpCleanup`",
        ),
    )
    assert report.failures == 1  # r1 still replays


def test_a_payload_that_fails_validation(recorded: Recorded) -> None:
    target = at(recorded, "r1", 1)

    report = run(replace_event(list(recorded), target, lambda e: with_payload(e, instances=7)))

    assert located(report) == [("REPLAY_INVALID_PAYLOAD", "r1", 1)]
    assert report.findings[0].message == "field `instances`: Input should be a valid list"


def test_a_state_not_in_the_machine(recorded: Recorded) -> None:
    target = find(recorded, "r2", "TransitionPlanned", transition="give_up")

    report = run(replace_event(list(recorded), target, lambda e: with_payload(e, to_state="Gone")))

    assert located(report) == [("REPLAY_UNKNOWN_STATE", "r2", target.version)]
    assert report.findings[0].message == "machine `Instance` has no state `Gone`"


def test_a_transition_not_in_the_table(recorded: Recorded) -> None:
    target = find(recorded, "r2", "TransitionPlanned", transition="give_up")

    report = run(
        replace_event(list(recorded), target, lambda e: with_payload(e, transition="abandon"))
    )

    assert located(report) == [("REPLAY_UNKNOWN_TRANSITION", "r2", target.version)]
    assert (
        report.findings[0].message == "transition `abandon` of machine `Instance` is not declared"
    )


def test_a_transition_recorded_between_other_states(recorded: Recorded) -> None:
    target = find(recorded, "r2", "TransitionPlanned", transition="give_up")

    report = run(
        replace_event(list(recorded), target, lambda e: with_payload(e, to_state="Closed"))
    )

    assert located(report) == [("REPLAY_UNKNOWN_TRANSITION", "r2", target.version)]
    assert report.findings[0].message == (
        "transition `give_up` of machine `Instance` no longer leads from `Closing` to `Closed`"
    )


def test_an_outcome_naming_an_unknown_transition(recorded: Recorded) -> None:
    target = find(recorded, "r2", "TaskFailed", attempt=1)

    report = run(
        replace_event(list(recorded), target, lambda e: with_payload(e, transition="shut"))
    )

    assert located(report) == [("REPLAY_UNKNOWN_TRANSITION", "r2", target.version)]
    assert report.findings[0].message == "machine `Instance` has no transition `shut`"


def test_a_machine_not_in_the_process(recorded: Recorded) -> None:
    target = find(recorded, "r1", "TransitionPlanned", machine_id="A", transition="close")

    report = run(replace_event(list(recorded), target, lambda e: with_payload(e, machine="Host")))

    assert located(report) == [("REPLAY_UNKNOWN_MACHINE", "r1", target.version)]


def test_a_task_not_in_the_process(recorded: Recorded) -> None:
    target = find(recorded, "r2", "TransitionPlanned", transition="close")

    report = run(
        replace_event(list(recorded), target, lambda e: with_payload(e, task="OpenInstance"))
    )

    assert located(report) == [("REPLAY_UNKNOWN_TASK", "r2", target.version)]


def test_a_task_input_the_task_no_longer_accepts(recorded: Recorded) -> None:
    target = find(recorded, "r2", "TransitionPlanned", transition="close")

    report = run(
        replace_event(list(recorded), target, lambda e: with_payload(e, task_input={"reason": 5}))
    )

    assert located(report) == [("REPLAY_INVALID_TASK_INPUT", "r2", target.version)]
    assert report.findings[0].message == (
        "input of task `CloseInstance`: field `reason`: Input should be a valid string"
    )


def test_an_input_event_filed_under_another_key(recorded: Recorded) -> None:
    target = at(recorded, "r1", 1)

    report = run(replace_event(list(recorded), target, lambda e: with_payload(e, rebase_id="r7")))

    assert located(report) == [("REPLAY_KEY_MISMATCH", "r1", 1)]
    assert report.findings[0].message == (
        "key field `rebase_id` is `r7`, but the event is in stream `r1`"
    )


def test_a_stream_of_another_category(recorded: Recorded) -> None:
    moved = [
        dataclasses.replace(e, category="OldCleanup") if e.key == "r2" else e for e in recorded
    ]

    report = run(moved)

    assert [
        (f.id, f.position.category, f.position.key, f.position.version) for f in report.findings
    ] == [("REPLAY_UNKNOWN_CATEGORY", "OldCleanup", "r2", 1)]


def test_a_version_gap(recorded: Recorded) -> None:
    report = run(replace_event(list(recorded), at(recorded, "r2", 5), lambda _: None))

    assert located(report) == [("REPLAY_VERSION_GAP", "r2", 6)]
    assert report.findings[0].message == "version 5 missing before version 6"


def test_a_stream_that_does_not_start_at_version_one(recorded: Recorded) -> None:
    tail = [e for e in recorded if e.key != "r2" or e.version > 3]

    report = run(tail)

    assert located(report) == [("REPLAY_VERSION_GAP", "r2", 4)]
    assert report.findings[0].message == "versions 1 to 3 missing before version 4"


def test_a_duplicate_version(recorded: Recorded) -> None:
    report = run([*recorded, at(recorded, "r2", 3)])

    assert located(report) == [("REPLAY_DUPLICATE_VERSION", "r2", 3)]


def test_a_transition_that_leaves_a_state_the_instance_is_not_in(recorded: Recorded) -> None:
    give_up = find(recorded, "r2", "TransitionPlanned", transition="give_up")
    last = at(recorded, "r2", 9)  # ProcessFailed: recorded as a second give_up instead
    again = dataclasses.replace(give_up, version=last.version, event_id=last.event_id)

    report = run(replace_event(list(recorded), last, lambda _: again))

    assert located(report) == [("REPLAY_STATE_MISMATCH", "r2", 9)]
    assert report.findings[0].message == (
        "transition `give_up` leaves `Closing`, "
        "but on replay `Instance` instance `C` is in `Failed`"
    )


def test_an_exception_in_evolve(recorded: Recorded) -> None:
    base = type(definition())

    class Exploding(base):  # type: ignore[valid-type, misc]
        def evolve(self, state: ProcessState, event: Event) -> ProcessState:
            if isinstance(event, self.lifecycle.task_retry_scheduled):
                raise KeyError("attempt")
            folded: ProcessState = super().evolve(state, event)
            return folded

    report = run(recorded, Exploding())

    assert located(report) == [("REPLAY_EVOLVE_ERROR", "r2", 5)]
    assert report.findings[0].message == "evolve raised KeyError: 'attempt'"
    assert report.streams[1].state is None  # folding stopped there


def test_every_event_that_does_not_load_is_listed_not_only_the_first(recorded: Recorded) -> None:
    events = list(recorded)
    for version in (4, 7):
        target = at(events, "r2", version)
        events = replace_event(events, target, lambda e: dataclasses.replace(e, event="Gone"))

    report = run(events)

    assert located(report) == [("REPLAY_UNKNOWN_EVENT", "r2", 4), ("REPLAY_UNKNOWN_EVENT", "r2", 7)]


def test_a_finding_must_name_a_registered_rule() -> None:
    with pytest.raises(ValueError, match="unregistered diagnostic id"):
        finding("REPLAY_WHATEVER", "RpCleanup", "r1", 1, None, "?")
