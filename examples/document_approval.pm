# A document needs the approval of every reviewer the author picked.
#
# `Review` has one instance per reviewer: `ReviewRequested.reviewers` fans the
# request out (one instance per name in the list, each starting in `Pending`),
# and later events pick their instance by `reviewer`. Reviewers who stay silent
# get a reminder after two days and are escalated to their manager three days
# later; `Deadline` gives up on the whole document after two weeks.
process DocumentApproval {
    key document_id

    event ReviewRequested {
        document_id: UUID
        title: str
        author: str
        reviewers: list[str]
        requested_at: datetime
    }

    event ReviewApproved {
        document_id: UUID
        reviewer: str
        comment: str | None = none
    }

    event ReviewRejected {
        document_id: UUID
        reviewer: str
        reason: str
    }

    # The author took a reviewer off the list.
    event ReviewerRemoved {
        document_id: UUID
        reviewer: str
    }

    # The author pulled the document: see `cancel on` at the end.
    event DocumentWithdrawn {
        document_id: UUID
        reason: str = "withdrawn by the author"
    }

    # No mode written: tasks are async unless marked `sync`.
    task NotifyReviewer {
        document_id: UUID
        reviewer: str
        title: str
        retry 3 backoff 30s max 10m
        timeout 30s
    }

    task SendReminder {
        document_id: UUID
        reviewer: str
        retry 2 every 5m
    }

    task EscalateToManager {
        document_id: UUID
        reviewer: str
        why: str = "no answer after five days"
        retry 5 backoff 1m max 1h
    }

    machine Review {
        states Pending, Notifying, Waiting, Reminding, Overdue, Escalating, Escalated, Approved,
               Rejected, Removed
        initial Pending
        final Approved, Rejected, Removed

        # `machine_id` is the instance's id: here, the reviewer's name.
        transition notify: Pending -> Notifying on ReviewRequested.reviewers
            run NotifyReviewer(document_id = key, reviewer = machine_id, title = event.title)
        transition notified: Notifying -> Waiting on NotifyReviewer completed
        # A reviewer we cannot reach goes straight to their manager; on
        # `failed` the trigger's only field is `reason`.
        transition unreachable: Notifying -> Escalating on NotifyReviewer failed
            run EscalateToManager(document_id = key, reviewer = machine_id, why = event.reason)

        # Timers count from the moment the instance entered the state, and
        # are dropped when it leaves: an approval in `Waiting` means no
        # reminder is ever sent.
        transition remind: Waiting -> Reminding on after 2d
            run SendReminder(document_id = key, reviewer = machine_id)
        # A reminder that could not be sent changes nothing for the reviewer.
        transition reminded: Reminding -> Overdue on SendReminder completed
        transition reminder_lost: Reminding -> Overdue on SendReminder failed

        transition escalate: Overdue -> Escalating on after 3d
            run EscalateToManager(document_id = key, reviewer = machine_id)
        transition escalated: Escalating -> Escalated on EscalateToManager completed
        transition escalation_lost: Escalating -> Escalated on EscalateToManager failed

        # Sources are listed rather than `*` on purpose: `*` includes the
        # initial state, where an id never seen before starts, so an approval
        # from someone who was never asked would count.
        transition approve: Notifying, Waiting, Reminding, Overdue, Escalating, Escalated
            -> Approved on ReviewApproved.reviewer
        transition reject: Notifying, Waiting, Reminding, Overdue, Escalating, Escalated
            -> Rejected on ReviewRejected.reviewer

        # `*` is every non-final state, so a reviewer can be removed whatever
        # they were doing. A removal for an unknown name creates an instance
        # that is `Removed` at once, which the completion below tolerates.
        transition remove: * -> Removed on ReviewerRemoved.reviewer
    }

    # A single-instance machine (plain `EventName` trigger) that only keeps
    # time for the whole document.
    machine Deadline {
        states NotStarted, Running, Expired
        initial NotStarted
        final Expired

        transition begin: NotStarted -> Running on ReviewRequested
        transition expire: Running -> Expired on after 14d
    }

    start on ReviewRequested

    # `Deadline` is not named, so it need not be final for the document to
    # be approved.
    complete when all Review in Approved, Removed

    fail when any Review in Rejected or any Deadline in Expired

    # Records `ProcessCancelled`; nothing more is planned, and outcomes of
    # tasks still running are recorded but change nothing.
    cancel on DocumentWithdrawn
}
