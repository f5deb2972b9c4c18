# The reference scenario of the pmc specification: when a rebase fails, close
# every cloud instance it had started, retrying each close a few times.
process RebaseCleanup {
    key rebase_id

    event RebaseFailed {
        rebase_id: str
        instances: list[str]
        reason: str = "rebase failed"
    }

    task CloseInstance async {
        reason: str
        retry 3 backoff 2s max 1m
        timeout 30s
    }

    machine Instance {
        states Working, Closing, Closed, Failed
        initial Working
        final Closed, Failed

        transition close: Working -> Closing on RebaseFailed.instances
            run CloseInstance(reason = event.reason)
        transition closed: Closing -> Closed on CloseInstance completed
        transition give_up: Closing -> Failed on CloseInstance failed
    }

    complete when all Instance final

    fail when any Instance in Failed
}
