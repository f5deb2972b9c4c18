"""examples/document_approval.pm with pmc.testing: one review per reviewer, reminders and
escalations on timers, a deadline, and withdrawal."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import ModuleType
from typing import Any

from pmc.testing import START, MakeScenario, fail, succeed
from tests.examples.support import example

Make = MakeScenario
DOCUMENT = uuid.UUID(int=42)
DAY = timedelta(days=1)


def approval() -> ModuleType:
    return example("document_approval")


def requested() -> Any:
    return approval().ReviewRequested(
        document_id=DOCUMENT,
        title="Budget 2027",
        author="ada",
        reviewers=["bob", "eve"],
        requested_at=START,
    )


def test_the_document_is_approved_once_every_reviewer_approves(scenario: Make) -> None:
    s = scenario(approval(), default=succeed())

    s.when(requested())
    s.expect_tasks(
        ("NotifyReviewer", {"reviewer": "bob", "title": "Budget 2027"}),
        ("NotifyReviewer", {"reviewer": "eve"}),
    )
    s.expect_states(Review={"bob": "Waiting", "eve": "Waiting"}, Deadline="Running")

    s.when(approval().ReviewApproved(document_id=DOCUMENT, reviewer="bob"))
    s.expect_transitions("Review[bob]: Waiting -> Approved").expect_end(None)
    s.when(approval().ReviewApproved(document_id=DOCUMENT, reviewer="eve"))

    s.expect_end("completed")


def test_a_silent_reviewer_is_reminded_after_two_days_then_escalated_after_three(
    scenario: Make,
) -> None:
    s = scenario(approval(), default=succeed())
    s.when(requested())
    s.expect_timers(("expire", 14 * DAY), ("remind", 2 * DAY), ("remind", 2 * DAY), ordered=False)

    s.advance(2 * DAY)
    s.expect_tasks(
        ("SendReminder", {"reviewer": "bob"}), ("SendReminder", {"reviewer": "eve"}), ordered=False
    )
    s.expect_states(Review={"bob": "Overdue", "eve": "Overdue"})

    s.advance(3 * DAY)
    s.expect_tasks(
        ("EscalateToManager", {"reviewer": "bob", "why": "no answer after five days"}),
        ("EscalateToManager", {"reviewer": "eve"}),
        ordered=False,
    )
    s.expect_states(Review={"bob": "Escalated", "eve": "Escalated"})


def test_a_reviewer_who_cannot_be_notified_is_escalated_with_the_reason(scenario: Make) -> None:
    s = scenario(approval(), default=succeed())
    s.script("NotifyReviewer", fail("no such mailbox"), machine_id="eve")

    s.when(requested())
    s.advance(timedelta(hours=1))  # `retry 3 backoff 30s max 10m`

    assert [c.attempt for c in s.tasks.calls("NotifyReviewer") if c.machine_id == "eve"] == [
        1,
        2,
        3,
        4,
    ]
    s.expect_states(Review={"bob": "Waiting", "eve": "Escalated"})
    assert s.tasks.inputs("EscalateToManager") == [
        {"document_id": str(DOCUMENT), "reviewer": "eve", "why": "no such mailbox"}
    ]


def test_a_rejection_fails_the_review_and_the_deadline_would_too(scenario: Make) -> None:
    s = scenario(approval(), default=succeed()).when(requested())
    s.when(approval().ReviewRejected(document_id=DOCUMENT, reviewer="eve", reason="too costly"))
    s.expect_end("failed")

    late = scenario(approval(), default=succeed()).when(requested())
    late.when(approval().ReviewerRemoved(document_id=DOCUMENT, reviewer="eve"))
    late.advance(14 * DAY)
    late.expect_states(Deadline="Expired").expect_end("failed")


def test_a_withdrawn_document_is_cancelled(scenario: Make) -> None:
    s = scenario(approval(), default=succeed()).when(requested())
    s.when(approval().DocumentWithdrawn(document_id=DOCUMENT))
    s.expect_end("cancelled", reason="cancelled by DocumentWithdrawn")
