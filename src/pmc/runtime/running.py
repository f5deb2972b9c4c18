"""Running task attempts: claim, call the handler, keep its lease, record the outcome.

An attempt is claimed by recording ``TaskStarted`` with an id derived from
the task and the attempt, so of two runners only one runs it. A task
without ``timeout`` has its lease renewed by a thread while its handler
runs; the outcome is recorded even if the process moved on meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from event_sourcery import Event

from pmc.runtime import attempts, contract, engine
from pmc.runtime.definition import ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import TaskOutcome, TaskTimedOutBase
from pmc.runtime.log import log_attempt, log_report, logger
from pmc.runtime.preconditions import Precondition, held_by, lease_expired, startable
from pmc.runtime.recorder import Recorder
from pmc.runtime.results import AttemptReport, HandleResult, HandleStatus
from pmc.runtime.state import ProcessState, TaskInFlight
from pmc.runtime.stores.api import transient
from pmc.runtime.work import StartAttempt, TimeOut, task_action

DEFAULT_LEASE = timedelta(minutes=5)
# Bounds the sync tasks run inline after one event, so a process whose sync
# tasks plan each other forever cannot hold its caller forever; the rest stay
# in the work index for the workers.
MAX_SYNC_RUNS = 100
# Writing an attempt's outcome is tried this many times, pausing
# OUTCOME_WRITE_BACKOFF seconds, then twice as long each time (0.2 s .. 1.6 s,
# about 3 s in all): enough for a dropped connection to be replaced, short
# next to a lease, after which the attempt would be run again.
OUTCOME_WRITE_TRIES = 5
OUTCOME_WRITE_BACKOFF = 0.2


class TaskRunner:
    """Runs the attempts of one process's tasks with ``tasks``, recording through ``recorder``."""

    def __init__(self, recorder: Recorder, tasks: object) -> None:
        self._recorder = recorder
        self._definition = recorder.definition
        self._store = recorder.store
        self._tasks = tasks

    def run_sync_tasks(self, key: str, worker: str, lease: timedelta) -> tuple[AttemptReport, ...]:
        """Run the sync tasks of stream ``key`` that are due, one after another.

        Each outcome is recorded and decided on before the next task is
        picked, since it may plan more.
        """
        reports: list[AttemptReport] = []
        for _ in range(MAX_SYNC_RUNS):
            now = self._store.now()
            step = _next_sync_step(self._recorder.cache.current(key).state, now)
            if step is None:
                break
            if isinstance(step, TimeOut):
                self._recorder.append(key, *timeout_of(self._definition, step.task, now))
                continue
            report = self.run_attempt(key, step.task, worker, lease)
            if report is None:
                break  # another runner took it; it will record the outcome
            reports.append(report)
        return tuple(reports)

    def run_attempt(
        self,
        key: str,
        task: TaskInFlight,
        worker: str,
        lease: timedelta,
        cancellation: threading.Event | None = None,
    ) -> AttemptReport | None:
        """Claim the current attempt of ``task``, run its handler, record the outcome.

        None if another runner claimed the attempt first: nothing was run.
        """
        category = self._definition.category
        now = self._store.now()
        lease_until = now + attempts.attempt_lease(self._definition, task, lease)
        started = self._recorder.append(
            key,
            attempts.started_event(self._definition, task, worker, lease_until),
            contract.started_id(task.task_id, task.attempt),
            startable(task, now),
        )
        if not started.recorded:
            return None
        context = TaskContext(
            task_id=task.task_id,
            attempt=task.attempt,
            category=category,
            key=key,
            machine=task.machine,
            machine_id=task.machine_id,
            lease_until=lease_until,
            cancellation=cancellation or threading.Event(),
        )
        log_attempt("started", category, key, task, worker)
        keeper = self._keep_lease(key, task, worker, lease, context.cancellation)
        try:
            outcome = attempts.invoke(self._definition, self._tasks, task, context)
        finally:
            if keeper is not None:
                keeper.stop()
        recorded = self._record_outcome(key, task, worker, outcome)
        report = AttemptReport.of(
            category,
            key,
            task,
            worker=worker,
            outcome=attempts.outcome_kind(outcome),
            reason=outcome.reason if isinstance(outcome, attempts.Failed) else None,
            recorded=recorded,
            permanent=isinstance(outcome, attempts.Failed) and outcome.permanent,
            timed_out=self._timed_out_earlier(key, task),
        )
        log_report(report)
        return report

    def _record_outcome(
        self, key: str, task: TaskInFlight, worker: str, outcome: attempts.Outcome
    ) -> HandleResult:
        """Record the outcome of an attempt that ran, retrying a write that fails.

        The work happened, so the outcome is always recorded (late if it
        changes nothing: ``HandleStatus.LATE``). A transient store error (a
        dropped connection; ``stores.api.transient``) must not lose it: the
        write is tried again, with a growing pause, up to
        ``OUTCOME_WRITE_TRIES`` times. Its id is fixed, so a retry after a
        write that did land finds it instead of recording it twice, and
        reports it as recorded: the write was ours. Any other error (data the
        store refuses) would fail again, so it is not retried. If the outcome
        cannot be written, the error is raised and the attempt is left to its
        lease: it times out, and a retry runs the handler again.
        """
        category = self._definition.category
        event = attempts.outcome_event(self._definition, task, outcome)
        event_id = contract.outcome_id(task.task_id, task.attempt)
        for number in range(1, OUTCOME_WRITE_TRIES + 1):
            try:
                recorded = self._recorder.append(key, event, event_id)
            except Exception as error:
                retry = transient(error) and number < OUTCOME_WRITE_TRIES
                then = "trying again" if retry else "the attempt is left to its lease"
                why = f"try {number}" if transient(error) else type(error).__name__
                what = f"could not record the outcome ({why}: {error}); {then}"
                level = logging.WARNING if retry else logging.ERROR
                log_attempt(what, category, key, task, worker, level=level)
                if not retry:
                    raise
                time.sleep(OUTCOME_WRITE_BACKOFF * 2 ** (number - 1))
                continue
            if number > 1 and recorded.status is HandleStatus.DEDUPLICATED:
                return self._landed(key, event, event_id, recorded)
            return recorded
        raise AssertionError("unreachable")  # pragma: no cover

    def _landed(
        self,
        key: str,
        event: TaskOutcome,
        event_id: uuid.UUID,
        deduplicated: HandleResult,
    ) -> HandleResult:
        """The result of an outcome write that landed although it raised.

        Only this attempt's runner writes an outcome under its fixed id, so
        finding that id on a retry means the earlier try was committed (the
        connection dropped before the answer came back): reported as recorded,
        with the decisions made on it, as if the write had answered. An
        outcome under another id (someone's report of this attempt) stays
        ``DEDUPLICATED``.
        """
        category = self._definition.category
        history = self._store.load(category, key)
        at = next((i for i, stored in enumerate(history) if stored.event_id == event_id), None)
        if at is None:
            return deduplicated
        decisions: list[Event] = []
        for stored in history[at + 1 :]:
            if stored.event_id != contract.decision_id(event_id, len(decisions)):
                break
            decisions.append(stored.event)
        before = self._definition.fold([stored.event for stored in history[:at]])
        changes = engine.outcome_changes_state(before, event)
        status = HandleStatus.RECORDED if changes else HandleStatus.LATE
        return HandleResult(status, category, key, event_id, deduplicated.state, tuple(decisions))

    def _timed_out_earlier(self, key: str, task: TaskInFlight) -> bool:
        """Was ``TaskTimedOut`` recorded for this attempt (while it ran)?

        Read from the cached fold, which recording the outcome just brought
        up to date: no store access, so a blip now cannot fail a recorded attempt.
        """
        folded = self._recorder.cache.cached(key)
        timed_out = contract.timed_out_id(task.task_id, task.attempt)
        return folded is not None and timed_out in folded.event_ids

    def _keep_lease(
        self,
        key: str,
        task: TaskInFlight,
        worker: str,
        lease: timedelta,
        cancellation: threading.Event,
    ) -> LeaseKeeper | None:
        """Renew the lease of an attempt of a task without ``timeout`` while it runs.

        Such a task may run as long as it needs, but a dead runner must
        still be noticed: the lease is renewed (``TaskStarted`` again, same
        attempt) every third of it, so it expires only a lease after the
        runner stopped renewing.
        """
        if self._definition.tasks[task.task].timeout_ms is not None:
            return None

        def renew(number: int) -> bool:
            now = self._store.now()
            renewed = self._recorder.append(
                key,
                attempts.started_event(self._definition, task, worker, now + lease),
                contract.renewed_id(task.task_id, task.attempt, number),
                held_by(task, worker),
            )
            return renewed.recorded

        keeper = LeaseKeeper(renew, lease.total_seconds() / 3, cancellation)
        keeper.start()
        return keeper


def timeout_of(
    definition: ProcessDefinition, task: TaskInFlight, now: datetime
) -> tuple[TaskTimedOutBase, uuid.UUID, Precondition]:
    """How a runner records that the lease of the current attempt of ``task`` expired.

    The event, its id (one timeout per attempt), and the precondition that
    the attempt still runs on a lease passed at ``now``.
    """
    return (
        attempts.timed_out_event(definition, task),
        contract.timed_out_id(task.task_id, task.attempt),
        lease_expired(task, now),
    )


class LeaseKeeper:
    """A thread renewing one attempt's lease until stopped or refused.

    If a renewal is refused, the attempt is no longer this runner's (it timed
    out, or the process moved on): the handler is asked to stop.
    """

    def __init__(
        self, renew: Callable[[int], bool], interval: float, cancellation: threading.Event
    ) -> None:
        self._renew = renew
        self._interval = interval
        self._cancellation = cancellation
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pmc-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        number = 0
        while not self._stopped.wait(self._interval):
            number += 1
            try:
                held = self._renew(number)
            except Exception:
                logger.exception("lease renewal failed; trying again")
                continue
            if not held:
                self._cancellation.set()
                return


def _next_sync_step(state: ProcessState, now: datetime) -> StartAttempt | TimeOut | None:
    if state.ended:
        return None
    for task in state.tasks.values():
        if task.mode != "sync":
            continue
        action = task_action(task, now)
        if isinstance(action, StartAttempt | TimeOut):
            return action
    return None
