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
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeGuard

from event_sourcery import Event

from pmc.runtime import attempts, contract, engine
from pmc.runtime.definition import EventMeta, ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import TaskCompletedBase, TaskFailedBase, TaskRetryScheduledBase
from pmc.runtime.log import fields, logger
from pmc.runtime.state import KeyValue, ProcessState, TaskInFlight, TaskStatus
from pmc.runtime.stores.api import (
    DuplicateEventId,
    NewEvent,
    ProcessStore,
    StoredEvent,
    VersionConflict,
    WorkChanges,
    WorkItem,
    WorkRow,
    check_event,
    check_stream,
    lone_surrogate,
    transient,
)
from pmc.runtime.work import DEFAULT_SYNC_GRACE, StartAttempt, TimeOut, task_action, work_changes

DEFAULT_LEASE = timedelta(minutes=5)
MAX_CONFLICTS = 100
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
CACHED_STREAMS = 10_000


class HandleStatus(StrEnum):
    RECORDED = "recorded"  # recorded, with the decisions it caused
    IGNORED = "ignored"  # an input event recorded, but no transition accepted it
    DEDUPLICATED = "deduplicated"  # its id is already recorded: nothing done again
    NOT_STARTED = "not_started"  # no process instance, and this event may not start one
    AFTER_END = "after_end"  # the process has ended: not recorded
    STALE = "stale"  # the work it reports is no longer due (a runner's precondition)
    # A task outcome recorded that changes nothing: the instance left the state
    # while the task ran, the task had settled, or the process had ended
    # (``engine.outcome_changes_state``). The work happened, so it is recorded.
    LATE = "late"


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
        return self.status in (HandleStatus.RECORDED, HandleStatus.IGNORED, HandleStatus.LATE)

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
    permanent: bool = False  # the handler raised PermanentFailure
    # The attempt's lease had expired and ``TaskTimedOut`` was recorded for it
    # before it returned: a later attempt, or nobody, owns the task now.
    timed_out: bool = False

    @property
    def retry_scheduled(self) -> bool:
        return any(_is_retry(event) for event in self.recorded.decisions)

    @property
    def late(self) -> bool:
        """The outcome was recorded and changed nothing (``HandleStatus.LATE``)."""
        return self.recorded.status is HandleStatus.LATE

    @property
    def gave_up(self) -> bool:
        """A failure with no attempt left: the task failed for good."""
        return (
            self.outcome == "failed"
            and self.recorded.status is HandleStatus.RECORDED
            and not self.retry_scheduled
        )

    def describe(self) -> str:
        """What became of the attempt, in words: for logs and progress lines.

        ``completed``; ``failed (reason); retry scheduled``; ``failed
        permanently (reason); failed for good``; ``timed out earlier, then
        completed; recorded late, changes nothing``; ``completed; not recorded
        (deduplicated)``.
        """
        what = self.outcome if self.reason is None else f"{self.outcome} ({self.reason})"
        if self.permanent:
            what = f"failed permanently ({self.reason})"
        if self.timed_out:
            what = f"timed out earlier, then {what}"
        if not self.recorded.recorded:
            return f"{what}; not recorded ({self.recorded.status})"
        if self.late:
            return f"{what}; recorded late, changes nothing"
        if self.outcome == "completed":
            return f"{what}; recorded" if self.timed_out else what
        return f"{what}; {'retry scheduled' if self.retry_scheduled else 'failed for good'}"


def _is_retry(event: Event) -> bool:
    return isinstance(event, TaskRetryScheduledBase)


class SyncRetryWarning(RuntimeWarning):
    """A sync task's retries wait for a delay, and only a worker runs them when due."""


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
    # (task id, attempt) of every TaskCompleted / TaskFailed in the stream,
    # whatever its event id: an attempt has one outcome.
    outcomes: frozenset[tuple[uuid.UUID, int]] = field(default_factory=frozenset)

    def with_events(
        self, state: ProcessState, events: Sequence[tuple[uuid.UUID, Event]]
    ) -> _Folded:
        """This fold with ``events`` (id, event) appended, ending in ``state``."""
        outcomes = {
            (event.task_id, event.attempt)
            for _, event in events
            if isinstance(event, TaskCompletedBase | TaskFailedBase)
        }
        return _Folded(
            state,
            self.event_ids | {event_id for event_id, _ in events},
            self.outcomes | outcomes if outcomes else self.outcomes,
        )


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
        with_worker: bool = False,
    ) -> None:
        """``tasks`` implements the ``<Process>Tasks`` protocol; without it,
        sync tasks are left to the workers; ``tasks`` lacking a method of the
        protocol is a ``TypeError``. ``lease`` is the (renewed) lease
        of an attempt of a task without ``timeout``; ``sync_grace`` is how long
        a sync task waits for this manager before a worker may run it instead.

        ``with_worker=True`` says a ``Worker`` (``pmc worker``) runs this
        process against the same store. Without it, a manager given ``tasks``
        warns (``SyncRetryWarning``) if a sync task retries after a delay:
        ``handle`` runs a sync task's retry only when it is already due, so a
        delayed retry runs in a worker, or never if none runs.

        The time of every decision, lease and due time is ``store.now()``, the
        store's clock, shared with runners on other machines.
        """
        if tasks is not None:
            attempts.check_handlers(definition, tasks)
        self.definition = definition
        self.store = store
        self.tasks = tasks
        self.runner_id = runner_id or f"inline-{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.sync_grace = sync_grace
        self.max_conflicts = max_conflicts
        self._has_sync_tasks = any(spec.mode == "sync" for spec in definition.tasks.values())
        if tasks is not None and not with_worker:
            _warn_of_delayed_sync_retries(definition)
        self._cache: OrderedDict[str, _Folded] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def category(self) -> str:
        return self.definition.category

    # ---- the public API --------------------------------------------------------------

    def handle(self, event: Event, event_id: str | uuid.UUID | None = None) -> HandleResult:
        """Record an input event with its decisions, then run the sync tasks it planned.

        ``event_id`` identifies the delivery (a message id, say; a UUID or
        non-empty text): the same id handled twice for one stream is recorded
        once (``DEDUPLICATED`` the second time). The id stored with the event
        is derived from it and the stream (see ``stored_event_id``), so one
        delivery handled by two processes, or for two keys, is recorded in
        each stream. Without ``event_id``, a random id is used.
        ``HandleResult.event_id`` is the stored id: the ``caused_by`` of the
        decisions made on the event.
        """
        if not self.definition.is_input(event):
            raise TypeError(
                f"{type(event).__name__} is not an input event of {self.category}; "
                "outcomes are recorded with record(key, event, event_id)"
            )
        key = self.definition.key_of(event)
        stored_id = uuid.uuid4() if event_id is None else self.stored_event_id(key, event_id)
        return self.record(key, event, stored_id)

    def stored_event_id(self, key: KeyValue, event_id: str | uuid.UUID) -> uuid.UUID:
        """The id ``handle`` stores an input event under, for delivery ``event_id`` to ``key``.

        Stores keep event ids unique across all streams (event-sourcery's
        schema), while a delivery id is only unique per stream: one message
        may concern several processes or keys. A text id is taken as it is
        and a UUID as its canonical text, so the same text always maps to the
        same stored id, and a UUID and its ``str`` are one delivery.
        """
        return contract.delivery_id(
            self.category, self.definition.stream_key(key), _delivery(event_id)
        )

    def record(
        self,
        key: KeyValue,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
    ) -> HandleResult:
        """Record any event of this process in stream ``key`` and run due sync tasks.

        For the runtime's own reports (task outcomes, timeouts, fired
        timers): ``precondition`` is checked on the state each attempt is
        decided on; if it fails, nothing is written (``STALE``).
        """
        key = self.definition.stream_key(key)
        # Before deciding (task ids derive from the key and the event's text),
        # as the store would refuse them.
        check_stream(self.category, key)
        check_event(event)
        result = self._append(key, event, event_id, precondition)
        if result.status is HandleStatus.NOT_STARTED:
            return result
        runs = self.run_sync_tasks(key)
        if not runs:
            return result
        return _with_sync_runs(result, runs, self._folded(key).state)

    def state(self, key: KeyValue) -> ProcessState:
        """The current state of process ``key`` (the initial state if it has no events).

        A key is accepted in its declared type or as its text (``1`` or ``"1"``).
        """
        key = self.definition.stream_key(key)
        return self._folded(key).state

    def history(self, key: KeyValue) -> list[StoredEvent]:
        """Every event of process ``key``, in order."""
        key = self.definition.stream_key(key)
        return self.store.load(self.category, key)

    def replay(self, key: KeyValue) -> ProcessState:
        """The state rebuilt from the stream alone, bypassing the cache."""
        key = self.definition.stream_key(key)
        return self.definition.fold([stored.event for stored in self.history(key)])

    # ---- running tasks -------------------------------------------------------------------

    def run_sync_tasks(self, key: KeyValue) -> tuple[AttemptReport, ...]:
        """Run the sync tasks of stream ``key`` that are due, one after another.

        Each outcome is recorded and decided on before the next task is
        picked, since it may plan more. Running sync tasks already there is
        also how a task planned before a crash gets its run.
        """
        key = self.definition.stream_key(key)
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
                    contract.timed_out_id(step.task.task_id, step.task.attempt),
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
            contract.started_id(task.task_id, task.attempt),
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
        recorded = self._record_outcome(key, task, worker, outcome)
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
            permanent=isinstance(outcome, attempts.Failed) and outcome.permanent,
            timed_out=self._timed_out_earlier(key, task),
        )
        _log_report(report)
        return report

    def _record_outcome(
        self, key: str, task: TaskInFlight, worker: str, outcome: attempts.Outcome
    ) -> HandleResult:
        """Record the outcome of an attempt that ran, retrying a write that fails.

        The work happened, so the outcome is always recorded (late if it
        changes nothing; see ``_admit``). A transient store error (a dropped
        connection; ``stores.api.transient``) must not lose it: the write is
        tried again, with a growing pause, up to ``OUTCOME_WRITE_TRIES``
        times. Its id is fixed, so a retry after a write that did land finds
        it instead of recording it twice, and reports it as recorded: the
        write was ours. Any other error (data the store refuses) would fail
        again, so it is not retried. If the outcome cannot be written, the
        error is raised and the attempt is left to its lease: it times out,
        and a retry runs the handler again.
        """
        event = attempts.outcome_event(self.definition, task, outcome)
        event_id = contract.outcome_id(task.task_id, task.attempt)
        for number in range(1, OUTCOME_WRITE_TRIES + 1):
            try:
                recorded = self._append(key, event, event_id)
            except Exception as error:
                retry = transient(error) and number < OUTCOME_WRITE_TRIES
                then = "trying again" if retry else "the attempt is left to its lease"
                why = f"try {number}" if transient(error) else type(error).__name__
                what = f"could not record the outcome ({why}: {error}); {then}"
                level = logging.WARNING if retry else logging.ERROR
                _log_attempt(what, self.category, key, task, worker, level=level)
                if not retry:
                    raise
                time.sleep(OUTCOME_WRITE_BACKOFF * 2 ** (number - 1))
                continue
            if number > 1 and recorded.status is HandleStatus.DEDUPLICATED:
                return self._landed(key, event, event_id, recorded)
            return recorded
        raise AssertionError("unreachable")  # pragma: no cover

    def _landed(
        self, key: str, event: Event, event_id: uuid.UUID, deduplicated: HandleResult
    ) -> HandleResult:
        """The result of an outcome write that landed although it raised.

        Only this attempt's runner writes an outcome under its fixed id, so
        finding that id on a retry means the earlier try was committed (the
        connection dropped before the answer came back): reported as recorded,
        with the decisions made on it, as if the write had answered. An
        outcome under another id (someone's report of this attempt) stays
        ``DEDUPLICATED``.
        """
        history = self.store.load(self.category, key)
        at = next((i for i, stored in enumerate(history) if stored.event_id == event_id), None)
        if at is None or not self._is_outcome(event):
            return deduplicated
        decisions: list[Event] = []
        for stored in history[at + 1 :]:
            if stored.event_id != contract.decision_id(event_id, len(decisions)):
                break
            decisions.append(stored.event)
        before = self.definition.fold([stored.event for stored in history[:at]])
        changes = engine.outcome_changes_state(before, event)
        status = HandleStatus.RECORDED if changes else HandleStatus.LATE
        return HandleResult(
            status, self.category, key, event_id, deduplicated.state, tuple(decisions)
        )

    def _timed_out_earlier(self, key: str, task: TaskInFlight) -> bool:
        """Was ``TaskTimedOut`` recorded for this attempt (while it ran)?

        Read from the cached fold, which recording the outcome just brought
        up to date: no store access, so a blip now cannot fail a recorded attempt.
        """
        with self._lock:
            folded = self._cache.get(key)
        timed_out = contract.timed_out_id(task.task_id, task.attempt)
        return folded is not None and timed_out in folded.event_ids

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
                contract.renewed_id(task.task_id, task.attempt, number),
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
        if event_id in folded.event_ids or self._outcome_already_recorded(folded, event):
            return HandleStatus.DEDUPLICATED
        if not (self.definition.is_input(event) or self.definition.is_lifecycle(event)):
            raise TypeError(f"{type(event).__name__} is not an event of {self.category}")
        if not state.started:
            starts = self.definition.is_input(event) and self.definition.can_start(event)
            return None if starts else HandleStatus.NOT_STARTED
        if state.ended and not self._outcome_of_a_run(folded, event):
            return HandleStatus.AFTER_END
        if precondition is not None and not precondition(state):
            return HandleStatus.STALE
        return None

    def _outcome_already_recorded(self, folded: _Folded, event: Event) -> bool:
        """An outcome of an attempt whose outcome the stream holds already (under any id).

        An attempt has one outcome: a report of it again (a handler's own
        retry logic, say) is a duplicate, not a second fact.
        """
        return self._is_outcome(event) and (event.task_id, event.attempt) in folded.outcomes

    def _outcome_of_a_run(self, folded: _Folded, event: Event) -> bool:
        """Is ``event`` the outcome of an attempt that was started in this stream?

        Such an outcome reports work that happened, so it is recorded even
        after the process ended (as a late outcome). The attempt ran if its
        ``TaskStarted`` (whose id derives from task and attempt) is in the
        stream; an outcome of an attempt never started is not a fact.
        """
        lifecycle = self.definition.lifecycle
        if not isinstance(event, (lifecycle.task_completed, lifecycle.task_failed)):
            return False
        return contract.started_id(event.task_id, event.attempt) in folded.event_ids

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
            NewEvent(decision, contract.decision_id(event_id, index))
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
        self._remember(
            key, folded.with_events(after, [(new.event_id, new.event) for new in new_events])
        )
        # Only an input event can be ignored; the runtime's own reports are
        # facts worth recording whether or not they change anything.
        ignored = not decisions and self.definition.is_input(event)
        status = HandleStatus.IGNORED if ignored else HandleStatus.RECORDED
        if self._is_outcome(event) and not engine.outcome_changes_state(before, event):
            status = HandleStatus.LATE
        result = HandleResult(status, self.category, key, event_id, after, tuple(decisions))
        _log_decision(result, event)
        return result

    def _is_outcome(self, event: Event) -> TypeGuard[TaskCompletedBase | TaskFailedBase]:
        lifecycle = self.definition.lifecycle
        return isinstance(event, (lifecycle.task_completed, lifecycle.task_failed))

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
        updated = folded.with_events(state, [(stored.event_id, stored.event) for stored in tail])
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


def _delivery(event_id: str | uuid.UUID) -> str | uuid.UUID:
    """A delivery id, checked: an empty text is a missing id, not one to deduplicate on.

    Text that is not valid Unicode (a lone surrogate) has no UTF-8 form to
    derive the stored id from: refused, as a key holding it is.
    """
    if isinstance(event_id, uuid.UUID):
        return event_id
    if isinstance(event_id, str) and event_id:
        problem = lone_surrogate(event_id)
        if problem is not None:
            raise ValueError(f"event_id must not contain {problem}: {event_id[:40]!r}")
        return event_id
    if isinstance(event_id, str):
        raise ValueError("event_id must not be empty (pass None for a random id)")
    raise TypeError(f"event_id is a str or a UUID, not {type(event_id).__name__}")


# ---- preconditions of the runtime's reports ---------------------------------------------


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


def _machine_name(machine: str, machine_id: str) -> str:
    """A machine as log lines name it: ``Pay``, or ``Instance/A`` for an instance.

    A single-instance machine's id is its name: like ``pmc worker``'s
    progress lines, the log does not name it twice (``Pay/Pay``).
    """
    return machine_id if machine_id == machine else f"{machine}/{machine_id}"


def _log_attempt(
    what: str,
    category: str,
    key: str,
    task: TaskInFlight,
    worker: str,
    level: int = logging.INFO,
    **more: object,
) -> None:
    logger.log(
        level,
        "%s/%s: %s %s attempt %d %s",
        category,
        key,
        task.task,
        _machine_name(task.machine, task.machine_id),
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
    logger.log(
        logging.INFO if report.outcome == "completed" else logging.WARNING,
        "%s/%s: %s %s attempt %d %s",
        report.category,
        report.key,
        report.task,
        _machine_name(report.machine, report.machine_id),
        report.attempt,
        report.describe(),
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
            permanent=report.permanent,
            timed_out=report.timed_out,
            recorded=str(report.recorded.status),
        ),
    )


def _warn_of_delayed_sync_retries(definition: ProcessDefinition) -> None:
    """Warn if a sync task retries after a delay: only a worker runs such a retry when due."""
    delayed = sorted(
        spec.name
        for spec in definition.tasks.values()
        if spec.mode == "sync" and spec.retry is not None and spec.retry.delay_after(1)
    )
    if not delayed:
        return
    message = (
        f"{definition.category}: the sync task{'s' if len(delayed) > 1 else ''} "
        f"{', '.join(delayed)} retr{'y' if len(delayed) > 1 else 'ies'} after a delay; "
        "handle() runs a retry only once it is due (on a later event for the same key), "
        "so without a worker (`pmc worker`, or Worker) on this store such a retry may "
        "never run. Run one, and pass with_worker=True to say so."
    )
    logger.warning(message, extra=fields(category=definition.category, tasks=delayed))
    warnings.warn(SyncRetryWarning(message), stacklevel=3)
