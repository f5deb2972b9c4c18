"""The process manager: records events and their decisions, and runs sync tasks.

Each handled event is recorded with the events decided on it in ONE append at
the version the decision was made on, together with the pending-work index
changes that follow from it. If another writer got there first, the stream
is read again and the decision made again on the new state; the store checks
versions on every backend, so a lost race is always detected, never merged.

The folded state of each stream is cached with the ids of the events in it,
so handling an event reads only the events recorded since (usually none),
and an event id already in the stream is recognised without a query.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from event_sourcery import Event

from pmc.runtime import attempts
from pmc.runtime.definition import EventMeta, ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import TaskRetryScheduledBase
from pmc.runtime.log import fields, logger
from pmc.runtime.state import ProcessState, TaskInFlight, TaskStatus
from pmc.runtime.stores.api import (
    DuplicateEventId,
    NewEvent,
    ProcessStore,
    StoredEvent,
    VersionConflict,
    WorkChanges,
    WorkItem,
    WorkRow,
)
from pmc.runtime.work import DEFAULT_SYNC_GRACE, StartAttempt, TimeOut, task_action, work_changes

DEFAULT_LEASE = timedelta(minutes=5)
MAX_CONFLICTS = 100
# Bounds the sync tasks run inline after one event, so a process whose sync
# tasks plan each other forever cannot hold its caller forever; the rest stay
# in the work index for the workers.
MAX_SYNC_RUNS = 100
CACHED_STREAMS = 10_000


class HandleStatus(StrEnum):
    RECORDED = "recorded"  # recorded, with the decisions it caused
    IGNORED = "ignored"  # an input event recorded, but no transition accepted it
    DEDUPLICATED = "deduplicated"  # its id is already recorded: nothing done again
    NOT_STARTED = "not_started"  # no process instance, and this event may not start one
    AFTER_END = "after_end"  # the process has ended: not recorded
    STALE = "stale"  # the work it reports is no longer due (a runner's precondition)


@dataclass(frozen=True, slots=True)
class HandleResult:
    """What became of one event."""

    status: HandleStatus
    category: str
    key: str
    event_id: uuid.UUID
    state: ProcessState  # the stream's state afterwards, as this manager knows it
    decisions: tuple[Event, ...] = ()
    sync_runs: tuple[AttemptReport, ...] = ()  # sync tasks run inline afterwards

    @property
    def recorded(self) -> bool:
        return self.status in (HandleStatus.RECORDED, HandleStatus.IGNORED)

    @property
    def version(self) -> int:
        return self.state.version


@dataclass(frozen=True, slots=True)
class AttemptReport:
    """One task attempt run to its end and its outcome recorded."""

    category: str
    key: str
    task: str
    task_id: uuid.UUID
    machine: str
    machine_id: str
    attempt: int
    worker: str
    outcome: attempts.OutcomeKind
    reason: str | None  # why it failed
    recorded: HandleResult  # recording the outcome

    @property
    def retry_scheduled(self) -> bool:
        return any(_is_retry(event) for event in self.recorded.decisions)

    @property
    def gave_up(self) -> bool:
        """A failure with no attempt left: the task failed for good."""
        return self.outcome == "failed" and self.recorded.recorded and not self.retry_scheduled


def _is_retry(event: Event) -> bool:
    return isinstance(event, TaskRetryScheduledBase)


class ConflictRetriesExhausted(RuntimeError):
    """Other writers kept changing the stream faster than a decision could be stored."""

    def __init__(self, category: str, key: str, attempts: int) -> None:
        self.category = category
        self.key = key
        self.attempts = attempts
        super().__init__(
            f"stream {category}/{key}: gave up after {attempts} version conflicts in a row; "
            "too many writers on one process instance"
        )


Precondition = Callable[[ProcessState], bool]


@dataclass(frozen=True, slots=True)
class _Folded:
    state: ProcessState
    event_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)


class ProcessManager:
    """Handles events for one process definition against one store.

    Thread-safe: share one manager between the threads of a process. Several
    managers (in other processes or machines) may write the same streams.
    """

    def __init__(
        self,
        definition: ProcessDefinition,
        store: ProcessStore,
        tasks: object | None = None,
        *,
        runner_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        sync_grace: timedelta = DEFAULT_SYNC_GRACE,
        max_conflicts: int = MAX_CONFLICTS,
    ) -> None:
        """``tasks`` implements the ``<Process>Tasks`` protocol; without it,
        sync tasks are left to the workers. ``lease`` is the (renewed) lease
        of an attempt of a task without ``timeout``; ``sync_grace`` is how long
        a sync task waits for this manager before a worker may run it instead.
        The time of every decision, lease and due time is ``store.now()``, the
        store's clock, shared with runners on other machines."""
        self.definition = definition
        self.store = store
        self.tasks = tasks
        self.runner_id = runner_id or f"inline-{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.sync_grace = sync_grace
        self.max_conflicts = max_conflicts
        self._has_sync_tasks = any(spec.mode == "sync" for spec in definition.tasks.values())
        self._cache: OrderedDict[str, _Folded] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def category(self) -> str:
        return self.definition.category

    # ---- the public API --------------------------------------------------------------

    def handle(self, event: Event, event_id: uuid.UUID | None = None) -> HandleResult:
        """Record an input event with its decisions, then run the sync tasks it planned.

        ``event_id`` identifies the delivery (a message id, say): the same id
        handled twice for one stream is recorded once (``DEDUPLICATED`` the
        second time). The id stored with the event is derived from it and
        the stream (see ``stored_event_id``), so one delivery handled by two
        processes, or for two keys, is recorded in each stream. Without
        ``event_id``, a random id is used. ``HandleResult.event_id`` is the
        stored id: the ``caused_by`` of the decisions made on the event.
        """
        if not self.definition.is_input(event):
            raise TypeError(
                f"{type(event).__name__} is not an input event of {self.category}; "
                "outcomes are recorded with record(key, event, event_id)"
            )
        key = self.definition.key_of(event)
        stored_id = uuid.uuid4() if event_id is None else self.stored_event_id(key, event_id)
        return self.record(key, event, stored_id)

    def stored_event_id(self, key: str, event_id: uuid.UUID) -> uuid.UUID:
        """The id ``handle`` stores an input event under, for delivery ``event_id`` to ``key``.

        Stores keep event ids unique across all streams (event-sourcery's
        schema), while a delivery id is only unique per stream: one message
        may concern several processes or keys.
        """
        return attempts.delivery_id(self.category, key, event_id)

    def record(
        self,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
    ) -> HandleResult:
        """Record any event of this process in stream ``key`` and run due sync tasks.

        For the runtime's own reports (task outcomes, timeouts, fired
        timers): ``precondition`` is checked on the state each attempt is
        decided on; if it fails, nothing is written (``STALE``).
        """
        result = self._append(key, event, event_id, precondition)
        if result.status is HandleStatus.NOT_STARTED:
            return result
        runs = self.run_sync_tasks(key)
        if not runs:
            return result
        return _with_sync_runs(result, runs, self._folded(key).state)

    def state(self, key: str) -> ProcessState:
        """The current state of stream ``key`` (the initial state if it has no events)."""
        return self._folded(key).state

    def history(self, key: str) -> list[StoredEvent]:
        """Every event of stream ``key``, in order."""
        return self.store.load(self.category, str(key))

    def replay(self, key: str) -> ProcessState:
        """The state rebuilt from the stream alone, bypassing the cache."""
        return self.definition.fold([stored.event for stored in self.history(key)])

    # ---- running tasks -------------------------------------------------------------------

    def run_sync_tasks(self, key: str) -> tuple[AttemptReport, ...]:
        """Run the sync tasks of stream ``key`` that are due, one after another.

        Each outcome is recorded and decided on before the next task is
        picked, since it may plan more. Running sync tasks already there is
        also how a task planned before a crash gets its run.
        """
        if self.tasks is None or not self._has_sync_tasks:
            return ()
        reports: list[AttemptReport] = []
        for _ in range(MAX_SYNC_RUNS):
            now = self.store.now()
            step = _next_sync_step(self._folded(key).state, now)
            if step is None:
                break
            if isinstance(step, TimeOut):
                self._append(
                    key,
                    attempts.timed_out_event(self.definition, step.task),
                    attempts.timed_out_id(step.task.task_id, step.task.attempt),
                    lease_expired(step.task, now),
                )
                continue
            report = self.run_attempt(key, step.task, self.runner_id, self.lease)
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

        The claim is ``TaskStarted`` with an id derived from the task and the
        attempt: of two runners, one records it and the other finds it
        recorded and returns None without running anything. The outcome is
        recorded even if the process ended meanwhile (a late outcome).
        Planned sync tasks are not run here; see ``run_sync_tasks``.
        """
        if self.tasks is None:
            raise ValueError(f"no task handlers given to the {self.category} process manager")
        now = self.store.now()
        lease_until = now + attempts.attempt_lease(self.definition, task, lease)
        started = self._append(
            key,
            attempts.started_event(self.definition, task, worker, lease_until),
            attempts.started_id(task.task_id, task.attempt),
            startable(task, now),
        )
        if not started.recorded:
            return None
        context = TaskContext(
            task_id=task.task_id,
            attempt=task.attempt,
            category=self.category,
            key=key,
            machine=task.machine,
            machine_id=task.machine_id,
            lease_until=lease_until,
            cancellation=cancellation or threading.Event(),
        )
        _log_attempt("started", self.category, key, task, worker)
        keeper = self._keep_lease(key, task, worker, lease, context.cancellation)
        try:
            outcome = attempts.invoke(self.definition, self.tasks, task, context)
        finally:
            if keeper is not None:
                keeper.stop()
        recorded = self._append(
            key,
            attempts.outcome_event(self.definition, task, outcome),
            attempts.outcome_id(task.task_id, task.attempt),
            in_flight(task.task_id),
        )
        report = AttemptReport(
            category=self.category,
            key=key,
            task=task.task,
            task_id=task.task_id,
            machine=task.machine,
            machine_id=task.machine_id,
            attempt=task.attempt,
            worker=worker,
            outcome=attempts.outcome_kind(outcome),
            reason=outcome.reason if isinstance(outcome, attempts.Failed) else None,
            recorded=recorded,
        )
        _log_report(report)
        return report

    def _keep_lease(
        self,
        key: str,
        task: TaskInFlight,
        worker: str,
        lease: timedelta,
        cancellation: threading.Event,
    ) -> _LeaseKeeper | None:
        """Renew the lease of an attempt of a task without ``timeout`` while it runs.

        Such a task may run as long as it needs, but a dead runner must
        still be noticed: the lease is renewed (``TaskStarted`` again, same
        attempt) every third of it, so it expires only a lease after the
        runner stopped renewing.
        """
        if self.definition.tasks[task.task].timeout_ms is not None:
            return None

        def renew(number: int) -> bool:
            now = self.store.now()
            renewed = self._append(
                key,
                attempts.started_event(self.definition, task, worker, now + lease),
                attempts.renewed_id(task.task_id, task.attempt, number),
                held_by(task, worker),
            )
            return renewed.recorded

        keeper = _LeaseKeeper(renew, lease.total_seconds() / 3, cancellation)
        keeper.start()
        return keeper

    # ---- the work index ------------------------------------------------------------------

    def set_work(self, item: WorkItem, due_at: datetime | None, judged_at: int) -> bool:
        """Move a claimed index row to ``due_at``, or delete it (None).

        ``judged_at`` is the stream version the caller judged the row on. The
        change is written at that version, so if a decision was recorded since
        (and rewrote the row) nothing is written and the answer is False.
        """
        if due_at is None:
            changes = WorkChanges(delete=(item.work_id,))
        else:
            changes = WorkChanges(upsert=(WorkRow(item.work_id, item.kind, due_at, item.payload),))
        try:
            self.store.append(self.category, item.key, [], judged_at, changes, now=self.store.now())
        except VersionConflict:
            return False
        return True

    # ---- appending -------------------------------------------------------------------------

    def _append(
        self,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
    ) -> HandleResult:
        for conflicts in range(self.max_conflicts + 1):
            folded = self._folded(key)
            verdict = self._admit(folded, event, event_id, precondition)
            if verdict is not None:
                return self._result(verdict, key, event, event_id, folded.state)
            try:
                return self._decide_and_append(key, folded, event, event_id)
            except VersionConflict:
                logger.debug(
                    "%s/%s: version conflict at %d, deciding again",
                    self.category,
                    key,
                    folded.state.version,
                    extra=fields(category=self.category, key=key, version=folded.state.version),
                )
                _back_off(conflicts)
        raise ConflictRetriesExhausted(self.category, key, self.max_conflicts + 1)

    def _admit(
        self,
        folded: _Folded,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None,
    ) -> HandleStatus | None:
        """Why ``event`` must not be recorded on this state, or None to go ahead."""
        state = folded.state
        if event_id in folded.event_ids:
            return HandleStatus.DEDUPLICATED
        if not (self.definition.is_input(event) or self.definition.is_lifecycle(event)):
            raise TypeError(f"{type(event).__name__} is not an event of {self.category}")
        if not state.started:
            starts = self.definition.is_input(event) and self.definition.can_start(event)
            return None if starts else HandleStatus.NOT_STARTED
        if state.ended and not self._late_outcome(state, event):
            return HandleStatus.AFTER_END
        if precondition is not None and not precondition(state):
            return HandleStatus.STALE
        return None

    def _late_outcome(self, state: ProcessState, event: Event) -> bool:
        """An attempt still in flight when the process ended reports back: keep the record."""
        lifecycle = self.definition.lifecycle
        if not isinstance(event, (lifecycle.task_completed, lifecycle.task_failed)):
            return False
        task = state.tasks.get(event.task_id)
        return (
            task is not None and task.status is TaskStatus.RUNNING and task.attempt == event.attempt
        )

    def _decide_and_append(
        self, key: str, folded: _Folded, event: Event, event_id: uuid.UUID
    ) -> HandleResult:
        before = folded.state
        now = self.store.now()
        decisions = self.definition.decide(before, event, EventMeta(event_id, now, key))
        after = before
        for recorded in (event, *decisions):
            after = self.definition.evolve(after, recorded)
        new_events = [NewEvent(event, event_id)] + [
            NewEvent(decision, attempts.decision_id(event_id, index))
            for index, decision in enumerate(decisions)
        ]
        work = work_changes(before, after, now, self.sync_grace)
        try:
            self.store.append(self.category, key, new_events, before.version, work, now=now)
        except DuplicateEventId as duplicate:
            # The inbox found no such id in this stream, so it lives in
            # another one. ``handle`` derives stored ids from the stream, so
            # only a caller of ``record`` reusing an id elsewhere gets here.
            logger.warning(
                "%s/%s: event id %s is already recorded in another stream",
                self.category,
                key,
                event_id,
                extra=fields(category=self.category, key=key, event_id=str(event_id)),
            )
            if event_id not in duplicate.event_ids:
                raise
            return self._result(HandleStatus.DEDUPLICATED, key, event, event_id, before)
        ids = folded.event_ids | {new.event_id for new in new_events}
        self._remember(key, _Folded(after, ids))
        # Only an input event can be ignored; the runtime's own reports are
        # facts worth recording whether or not they change anything.
        ignored = not decisions and self.definition.is_input(event)
        status = HandleStatus.IGNORED if ignored else HandleStatus.RECORDED
        result = HandleResult(status, self.category, key, event_id, after, tuple(decisions))
        _log_decision(result, event)
        return result

    def _result(
        self,
        status: HandleStatus,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        state: ProcessState,
    ) -> HandleResult:
        result = HandleResult(status, self.category, key, event_id, state)
        _log_decision(result, event)
        return result

    # ---- the cache -------------------------------------------------------------------------

    def _folded(self, key: str) -> _Folded:
        """The cached fold of stream ``key`` brought up to date with its new events."""
        with self._lock:
            folded = self._cache.get(key) or _Folded(self.definition.initial_state())
        tail = self.store.load(self.category, key, after_version=folded.state.version)
        if not tail:
            return folded
        state = folded.state
        for stored in tail:
            state = self.definition.evolve(state, stored.event)
        updated = _Folded(state, folded.event_ids | {stored.event_id for stored in tail})
        self._remember(key, updated)
        return updated

    def _remember(self, key: str, folded: _Folded) -> None:
        with self._lock:
            cached = self._cache.get(key)
            # Threads race to store what they read: keep the newest.
            if cached is None or cached.state.version < folded.state.version:
                self._cache[key] = folded
            self._cache.move_to_end(key)
            while len(self._cache) > CACHED_STREAMS:
                self._cache.popitem(last=False)


# ---- preconditions of the runtime's reports ---------------------------------------------


def in_flight(task_id: uuid.UUID) -> Precondition:
    """An outcome is recorded only while its task is in flight (or as a late outcome).

    Once a task has completed or failed for good it leaves the state, so a
    superseded attempt that finishes later (after a timeout, say) is not
    recorded as a second outcome of the same task: it is STALE.
    """

    def check(state: ProcessState) -> bool:
        return state.ended or task_id in state.tasks

    return check


def startable(task: TaskInFlight, now: datetime) -> Precondition:
    """The attempt of ``task`` is still the one to start, and due."""
    return _attempt_calls_for(task, now, StartAttempt)


def lease_expired(task: TaskInFlight, now: datetime) -> Precondition:
    """The attempt of ``task`` is still running on a lease that has passed."""
    return _attempt_calls_for(task, now, TimeOut)


def _attempt_calls_for(
    task: TaskInFlight, now: datetime, action: type[StartAttempt] | type[TimeOut]
) -> Precondition:
    """The same attempt of ``task`` is still current and its due action is ``action``."""

    def check(state: ProcessState) -> bool:
        current = state.tasks.get(task.task_id)
        if current is None or current.attempt != task.attempt:
            return False
        return isinstance(task_action(current, now), action)

    return check


def held_by(task: TaskInFlight, worker: str) -> Precondition:
    """The attempt of ``task`` is still running under ``worker``'s lease."""

    def check(state: ProcessState) -> bool:
        current = state.tasks.get(task.task_id)
        return (
            current is not None
            and current.attempt == task.attempt
            and current.status is TaskStatus.RUNNING
            and current.worker == worker
        )

    return check


def timer_due(timer_id: uuid.UUID, now: datetime) -> Precondition:
    """The timer is still pending and its time has come."""

    def check(state: ProcessState) -> bool:
        timer = state.timers.get(timer_id)
        return timer is not None and timer.due_at <= now

    return check


class _LeaseKeeper:
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


def _with_sync_runs(
    result: HandleResult, runs: Sequence[AttemptReport], state: ProcessState
) -> HandleResult:
    return HandleResult(
        result.status,
        result.category,
        result.key,
        result.event_id,
        state,
        result.decisions,
        tuple(runs),
    )


def _back_off(conflicts: int) -> None:
    # A little random sleep, growing with the losses, spreads the retries of
    # writers that keep colliding on one stream.
    time.sleep(random.uniform(0, min(0.001 * 2**conflicts, 0.05)))


# ---- logging --------------------------------------------------------------------------------


def _log_decision(result: HandleResult, event: Event) -> None:
    names = [type(decision).__name__ for decision in result.decisions]
    logger.info(
        "%s/%s v%d: %s %s%s",
        result.category,
        result.key,
        result.version,
        type(event).__name__,
        result.status,
        f" -> {', '.join(names)}" if names else "",
        extra=fields(
            category=result.category,
            key=result.key,
            event=type(event).__name__,
            event_id=str(result.event_id),
            status=str(result.status),
            version=result.version,
            decisions=names,
        ),
    )


def _log_attempt(
    what: str, category: str, key: str, task: TaskInFlight, worker: str, **more: object
) -> None:
    logger.info(
        "%s/%s: %s %s/%s attempt %d %s",
        category,
        key,
        task.task,
        task.machine,
        task.machine_id,
        task.attempt,
        what,
        extra=fields(
            category=category,
            key=key,
            task=task.task,
            task_id=str(task.task_id),
            machine=task.machine,
            machine_id=task.machine_id,
            attempt=task.attempt,
            worker=worker,
            outcome=what,
            **more,
        ),
    )


def _log_report(report: AttemptReport) -> None:
    what = report.outcome if report.reason is None else f"{report.outcome}: {report.reason}"
    logger.log(
        logging.INFO if report.outcome == "completed" else logging.WARNING,
        "%s/%s: %s %s/%s attempt %d %s%s",
        report.category,
        report.key,
        report.task,
        report.machine,
        report.machine_id,
        report.attempt,
        what,
        ", retry scheduled" if report.retry_scheduled else "",
        extra=fields(
            category=report.category,
            key=report.key,
            task=report.task,
            task_id=str(report.task_id),
            machine=report.machine,
            machine_id=report.machine_id,
            attempt=report.attempt,
            worker=report.worker,
            outcome=report.outcome,
            reason=report.reason,
            retry_scheduled=report.retry_scheduled,
        ),
    )
