"""Running task attempts: claim, call the handler, keep its lease, record the outcome.

An attempt is claimed by recording ``TaskStarted`` with an id derived from
the task and the attempt, so of two runners only one runs it. A task
without ``timeout`` has its lease renewed by a thread while its handler
runs; the outcome is recorded even if the process moved on meanwhile.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime import attempts, contract, engine, telemetry
from pmc.runtime.cache import StreamCache
from pmc.runtime.definition import ProcessDefinition, TaskContext
from pmc.runtime.lifecycle import TaskOutcome, TaskTimedOutBase, TransitionPlannedBase
from pmc.runtime.log import log_attempt, log_report, logger
from pmc.runtime.preconditions import Precondition, held_by, lease_expired, startable
from pmc.runtime.recorder import Batch, Recorder, RecordRequest
from pmc.runtime.results import AttemptReport, HandleResult, HandleStatus
from pmc.runtime.state import ProcessState, TaskInFlight, TaskStatus
from pmc.runtime.stores.api import AppendOutcome, transient
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


@dataclass(frozen=True, slots=True)
class Attempt:
    """An attempt whose ``TaskStarted`` was recorded: its handler must run now."""

    key: str
    task: TaskInFlight
    worker: str
    context: TaskContext
    # Its span and metrics (``pmc.runtime.telemetry``): a no-op unless installed.
    telemetry: telemetry.AttemptScope


@dataclass(frozen=True, slots=True)
class Starts:
    """Attempts to start, decided: ``batch.appends`` to record, then ``TaskRunner.started``."""

    starts: tuple[tuple[str, TaskInFlight], ...]  # (key, task)
    worker: str
    leases: tuple[datetime, ...]  # each attempt's lease, in order
    batch: Batch


@dataclass(frozen=True, slots=True)
class Finished:
    """An attempt whose handler returned: its outcome is still to be recorded."""

    attempt: Attempt
    outcome: attempts.Outcome


class TaskRunner:
    """Runs the attempts of one process's tasks with ``tasks``, recording through ``recorder``."""

    def __init__(self, recorder: Recorder, tasks: object) -> None:
        self._recorder = recorder
        self._definition = recorder.definition
        self._store = recorder.store
        self._tasks = tasks
        self._leases = LeaseKeeper()

    @property
    def cache(self) -> StreamCache:
        """The folds the attempts are judged and recorded on."""
        return self._recorder.cache

    def sync_task_due(self, key: str) -> bool:
        """Whether stream ``key``'s cached fold has a sync task to start or time out.

        No read: asked after recording an outcome, which brought the fold up
        to date. A sync task another writer planned meanwhile is run by that
        writer, or by a worker from the work index once its grace passes.
        """
        folded = self._recorder.cache.cached(key)
        return folded is None or _next_sync_step(folded.state, self._store.now()) is not None

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
                result = self._recorder.append(key, *timeout_of(self._definition, step.task, now))
                if result.recorded:
                    telemetry.installed().timed_out(
                        self._definition.category, step.task, result.retry_scheduled
                    )
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
        (started,) = self.start_attempts([(key, task)], worker, lease, [cancellation])
        if started is None:
            return None
        try:
            finished = self.run_handler(started, lease)
            (recorded,) = self.record_outcomes([finished], single=True)
            if isinstance(recorded, BaseException):
                raise recorded
        except BaseException as error:
            # Its outcome unrecorded, the attempt is left to its lease; its span ends.
            started.telemetry.abandoned(error)
            raise
        return self.report(finished, recorded)

    def start_attempts(
        self,
        starts: Sequence[tuple[str, TaskInFlight]],
        worker: str,
        lease: timedelta,
        cancellations: Sequence[threading.Event | None] | None = None,
    ) -> list[Attempt | None]:
        """Claim the current attempts of several tasks, recording their ``TaskStarted``s together.

        One ``store.append_many``: each start is checked and recorded on its
        own (an attempt another runner started first is None, in place), but
        they share the store's transaction. Each lease starts now, so the
        caller must run every started attempt at once.
        """
        planned = self.plan_starts(starts, worker, lease, self._store.now())
        try:
            recorded = self._store.append_many(planned.batch.appends)
        except Exception:
            logger.exception("starting %d attempts failed; running those recorded", len(starts))
            return self.started_as_read(planned, cancellations)
        return self.started(planned, recorded, cancellations)

    def plan_starts(
        self,
        starts: Sequence[tuple[str, TaskInFlight]],
        worker: str,
        lease: timedelta,
        now: datetime,
    ) -> Starts:
        """The ``TaskStarted``s of ``starts`` decided at ``now``, not recorded yet.

        Decided on the cached folds (a stream without one is read), so a
        worker can have them recorded with its claim (``claim_and_append``);
        ``started`` then tells which attempts are its own to run.
        """
        leases = tuple(now + attempts.attempt_lease(self._definition, t, lease) for _, t in starts)
        batch = self._recorder.plan(
            [
                RecordRequest(
                    key,
                    attempts.started_event(self._definition, task, worker, lease_until),
                    contract.started_id(task.task_id, task.attempt),
                    startable(task, now),
                )
                for (key, task), lease_until in zip(starts, leases, strict=True)
            ],
            now=now,
        )
        return Starts(tuple(starts), worker, leases, batch)

    def started(
        self,
        planned: Starts,
        recorded: Sequence[AppendOutcome],
        cancellations: Sequence[threading.Event | None] | None = None,
    ) -> list[Attempt | None]:
        """The attempts ``planned`` started, given what became of its appends (in order).

        A rejected append (another writer moved the stream) has its starts
        recorded again one by one, decided on the stream read anew. An
        attempt another runner started first is None, in place.
        """
        try:
            landed = [_result(r).recorded for r in self._recorder.settle(planned.batch, recorded)]
        except Exception:
            # Some of the batch may have landed before the error (a stream
            # appended again alone after a conflict, say): those attempts
            # are this runner's now and must run, not wait out their lease.
            logger.exception(
                "starting %d attempts failed; running those recorded", len(planned.starts)
            )
            return self.started_as_read(planned, cancellations)
        return self._attempts(planned, landed, cancellations)

    def started_as_read(
        self, planned: Starts, cancellations: Sequence[threading.Event | None] | None = None
    ) -> list[Attempt | None]:
        """The attempts of ``planned`` the streams, read anew, have running on its worker.

        After a write of the ``TaskStarted``s that failed: some may have
        landed all the same (its answer lost), and those must run.
        """
        landed = [self._is_running(key, task, planned.worker) for key, task in planned.starts]
        return self._attempts(planned, landed, cancellations)

    def _attempts(
        self,
        planned: Starts,
        landed: Sequence[bool],
        cancellations: Sequence[threading.Event | None] | None,
    ) -> list[Attempt | None]:
        """The attempts of ``planned`` whose ``TaskStarted`` ``landed``; None for the others."""
        given = cancellations or [None] * len(planned.starts)
        started: list[Attempt | None] = []
        for (key, task), lease_until, ran, cancellation in zip(
            planned.starts, planned.leases, landed, given, strict=True
        ):
            if not ran:
                started.append(None)
                continue
            context = self._context(key, task, lease_until, cancellation or threading.Event())
            category = self._definition.category
            log_attempt("started", category, key, task, planned.worker)
            scope = telemetry.installed().attempt(
                category, key, task, planned.worker, partial(self._planning_trace, key, task)
            )
            started.append(Attempt(key, task, planned.worker, context, scope))
        return started

    def _planning_trace(self, key: str, task: TaskInFlight) -> Mapping[str, str] | None:
        """The trace context recorded with the ``TransitionPlanned`` that planned ``task``.

        Read from the stream (the fold keeps no contexts): only when telemetry asks,
        from the planning event on when the cached fold knows its version (a tail
        read), the whole stream otherwise.
        """
        folded = self._recorder.cache.cached(key)
        planned_at = None if folded is None else folded.log.planned_at(task.task_id)
        after = 0 if planned_at is None else planned_at - 1
        for stored in reversed(self._store.load(self._definition.category, key, after)):
            event = stored.event
            if isinstance(event, TransitionPlannedBase) and event.task_id == task.task_id:
                return stored.trace
        return None

    def _is_running(self, key: str, task: TaskInFlight, worker: str) -> bool:
        """Whether the stream, read anew, has ``task``'s attempt running on ``worker``."""
        now_running = self._recorder.cache.current(key).state.tasks.get(task.task_id)
        return (
            now_running is not None
            and now_running.attempt == task.attempt
            and now_running.status is TaskStatus.RUNNING
            and now_running.worker == worker
        )

    def _context(
        self, key: str, task: TaskInFlight, lease_until: datetime, cancellation: threading.Event
    ) -> TaskContext:
        return TaskContext(
            task_id=task.task_id,
            attempt=task.attempt,
            category=self._definition.category,
            key=key,
            machine=task.machine,
            machine_id=task.machine_id,
            lease_until=lease_until,
            cancellation=cancellation,
        )

    def run_handler(self, started: Attempt, lease: timedelta) -> Finished:
        """Run a started attempt's handler, renewing its lease meanwhile; its outcome."""
        context = started.context
        keeper = self._keep_lease(
            started.key, started.task, started.worker, lease, context.cancellation
        )
        try:
            with started.telemetry.running():
                outcome = attempts.invoke(self._definition, self._tasks, started.task, context)
        finally:
            if keeper is not None:
                keeper.stop()
        return Finished(started, outcome)

    async def run_handler_async(
        self,
        started: Attempt,
        lease: timedelta,
        stop_keeping: Callable[[Lease], Awaitable[None]],
        record: Callable[[Finished | None], Awaitable[None]],
    ) -> None:
        """``run_handler`` for an ``async def`` handler, awaited on the calling event loop.

        The task's ``timeout`` is enforced by cancelling the handler; once it
        has passed, the attempt timed out whatever the handler did (swallowed
        the cancellation and returned, or blocked the loop past it): ``record``
        is then given None, and the attempt's timeout is its to record.
        Otherwise ``record`` is given the handler's outcome. A cancellation of
        the caller while the handler runs propagates, the lease no longer
        renewed; once the handler has ended, stopping its lease and
        ``record`` run to their end even if the caller is cancelled, so a
        returned outcome is never lost. ``stop_keeping`` stops the lease's
        renewals off the loop (``Lease.stop`` waits for a renewal under way,
        a store write).
        """
        context = started.context
        keeper = self._keep_lease(
            started.key, started.task, started.worker, lease, context.cancellation
        )

        async def stopped_keeping() -> None:
            if keeper is not None:
                await stop_keeping(keeper)

        timeout_ms = self._definition.tasks[started.task.task].timeout_ms
        loop = asyncio.get_running_loop()
        if started.telemetry is not telemetry.NO_ATTEMPT:
            # Its reads (the planning event's trace) off the loop.
            await asyncio.to_thread(started.telemetry.prepare)
        try:
            with started.telemetry.running():
                async with asyncio.timeout(
                    None if timeout_ms is None else timeout_ms / 1000
                ) as limit:
                    outcome = await attempts.invoke_async(
                        self._definition, self._tasks, started.task, context
                    )
        except TimeoutError:
            # ``invoke_async`` turns a handler's own TimeoutError into a
            # failure: this one is the attempt's timeout.
            finished = None
        except BaseException:
            await run_to_the_end(stopped_keeping())
            raise
        else:
            deadline = limit.when()
            expired = limit.expired() or (deadline is not None and loop.time() >= deadline)
            finished = None if expired else Finished(started, outcome)
        if finished is None:
            context.cancellation.set()

        async def stop_then_record() -> None:
            await stopped_keeping()
            await record(finished)

        await run_to_the_end(stop_then_record())

    def report(self, finished: Finished, recorded: HandleResult) -> AttemptReport:
        """The report of an attempt whose outcome was recorded as ``recorded``; logged."""
        started, outcome = finished.attempt, finished.outcome
        report = AttemptReport.of(
            self._definition.category,
            started.key,
            started.task,
            worker=started.worker,
            outcome=attempts.outcome_kind(outcome),
            reason=outcome.reason if isinstance(outcome, attempts.Failed) else None,
            recorded=recorded,
            permanent=isinstance(outcome, attempts.Failed) and outcome.permanent,
            timed_out=self._timed_out_earlier(started.key, started.task),
        )
        log_report(report)
        started.telemetry.finished(report)
        return report

    def record_outcomes(
        self, finished: Sequence[Finished], *, single: bool = False
    ) -> list[HandleResult | Exception]:
        """Record the outcomes of attempts that ran, together, retrying a write that fails.

        The work happened, so each outcome is always recorded (late if it
        changes nothing: ``HandleStatus.LATE``), each with the decisions made
        on it in one append, all of them in one ``Recorder.append_many``. A
        transient store error (a dropped connection; ``stores.api.transient``)
        must not lose them: the write is tried again, with a growing pause,
        up to ``OUTCOME_WRITE_TRIES`` times. Their ids are fixed, so a retry
        after a write that did land finds them instead of recording them
        twice, and reports them as recorded: the write was ours. Any other
        error (data the store refuses) would fail again: the outcomes are
        then recorded one by one (``single``), so one the store refuses
        cannot keep the others from being recorded; its error is returned in
        its place, and its attempt is left to its lease: it times out, and a
        retry runs the handler again.
        """
        outcomes = [
            attempts.outcome_event(self._definition, done.attempt.task, done.outcome)
            for done in finished
        ]
        requests = [
            RecordRequest(
                done.attempt.key,
                outcome,
                contract.outcome_id(done.attempt.task.task_id, done.attempt.task.attempt),
            )
            for done, outcome in zip(finished, outcomes, strict=True)
        ]
        for number in range(1, OUTCOME_WRITE_TRIES + 1):
            try:
                results = self._recorder.append_many(requests)
            except Exception as error:
                retry = transient(error) and number < OUTCOME_WRITE_TRIES
                if not single and len(finished) > 1 and not transient(error):
                    return [self._record_alone(done) for done in finished]
                self._log_write_error(finished, error, number, retry=retry)
                if not retry:
                    return [error] * len(finished)
                time.sleep(OUTCOME_WRITE_BACKOFF * 2 ** (number - 1))
                continue
            if number == 1:
                return list(results)
            return [
                self._landed(request.key, outcome, request.event_id, result)
                if result.status is HandleStatus.DEDUPLICATED
                else result
                for request, outcome, result in zip(requests, outcomes, results, strict=True)
            ]
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_alone(self, finished: Finished) -> HandleResult | Exception:
        (result,) = self.record_outcomes([finished], single=True)
        return result

    def _log_write_error(
        self, finished: Sequence[Finished], error: Exception, number: int, *, retry: bool
    ) -> None:
        then = "trying again" if retry else "the attempt is left to its lease"
        why = f"try {number}" if transient(error) else type(error).__name__
        what = f"could not record the outcome ({why}: {error}); {then}"
        level = logging.WARNING if retry else logging.ERROR
        for done in finished:
            started = done.attempt
            log_attempt(
                what,
                self._definition.category,
                started.key,
                started.task,
                started.worker,
                level=level,
            )

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
    ) -> Lease | None:
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

        return self._leases.keep(renew, lease.total_seconds() / 3, cancellation)


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


def _result(result: HandleResult | Exception) -> HandleResult:
    if isinstance(result, Exception):
        raise result
    return result


class LeaseKeeper:
    """One thread keeping the leases of running attempts, each renewed every ``interval`` seconds.

    A renewal is due a third of a lease after the last (minutes by default),
    so most attempts end before their first: a thread of their own would cost
    every attempt a thread start for nothing. The keeper's thread only keeps
    time; each renewal runs in a thread of its own, so one that hangs (a
    store waiting on a lock, a stream contended for long) holds up no other
    attempt's renewal, and a lease is due again only once its renewal
    returned: at most one renewal thread per running attempt. The keeper's
    thread starts with the first lease kept and ends after ``IDLE_SECONDS``
    without any.

    If a renewal is refused, the attempt is no longer its runner's (it timed
    out, or the process moved on): the handler is asked to stop.
    """

    IDLE_SECONDS = 5.0

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, Lease]] = []  # a heap by time.monotonic()
        self._order = itertools.count()
        self._running = False
        self._wake_at = 0.0  # time.monotonic() when the thread wakes up next

    def keep(
        self, renew: Callable[[int], bool], interval: float, cancellation: threading.Event
    ) -> Lease:
        """Renew with ``renew(n)`` (n = 1, 2, ...) every ``interval`` seconds until stopped."""
        lease = Lease(renew, interval, cancellation)
        self._schedule(lease)
        return lease

    def _schedule(self, lease: Lease) -> None:
        """Make ``lease`` due an interval from now, waking or starting the keeper's thread."""
        with self._changed:
            due = time.monotonic() + lease.interval
            heapq.heappush(self._due, (due, next(self._order), lease))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="pmc-lease", daemon=True).start()
            elif due < self._wake_at:
                # Only then: waking the thread for every attempt costs as
                # much as the thread start this class saves.
                self._changed.notify()

    def _run(self) -> None:
        while True:
            lease = self._next()
            if lease is None:
                return
            threading.Thread(
                target=self._renew, args=(lease,), name="pmc-lease-renewal", daemon=True
            ).start()

    def _renew(self, lease: Lease) -> None:
        if lease.renew_once():
            self._schedule(lease)

    def _next(self) -> Lease | None:
        """The next lease due, once it is; None when idle long enough to end the thread."""
        with self._changed:
            idle_since = time.monotonic()
            while True:
                while self._due and self._due[0][2].stopped:
                    heapq.heappop(self._due)
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    return heapq.heappop(self._due)[2]
                if not self._due and now - idle_since >= self.IDLE_SECONDS:
                    self._running = False
                    return None
                wait = self._due[0][0] - now if self._due else self.IDLE_SECONDS
                self._wake_at = now + wait
                self._changed.wait(wait)


class Lease:
    """One attempt's lease, renewed by a ``LeaseKeeper`` until ``stop``."""

    def __init__(
        self, renew: Callable[[int], bool], interval: float, cancellation: threading.Event
    ) -> None:
        self.interval = interval
        self._renew = renew
        self._cancellation = cancellation
        self._number = 0
        # Held during a renewal: ``stop`` waits for one under way, so none is
        # written after the handler returned.
        self._lock = threading.Lock()
        self.stopped = False

    def stop(self) -> None:
        with self._lock:
            self.stopped = True

    def renew_once(self) -> bool:
        """Renew now; whether to go on renewing."""
        with self._lock:
            if self.stopped:
                return False
            self._number += 1
            try:
                held = self._renew(self._number)
            except Exception:
                logger.exception("lease renewal failed; trying again")
                return True
            if not held:
                self._cancellation.set()
            return held


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


class OutcomeBatcher:
    """Records the outcomes of attempts finishing at about the same time together.

    Group commit: a runner thread hands its finished attempt in and waits;
    one of the waiting threads writes every outcome handed in so far in one
    ``TaskRunner.record_outcomes`` while the others queue up for the next
    write. A thread alone writes at once, so nothing waits for company.
    """

    def __init__(self, runner: TaskRunner) -> None:
        self._runner = runner
        self._changed = threading.Condition()
        self._pending: list[_Handed] = []
        self._writing = False

    @property
    def waiting(self) -> int:
        """Outcomes handed in and waiting for the next write.

        Only tests ask: a thread handing an outcome in then blocks inside
        ``record``, so nothing else can tell a test that outcomes are queued
        behind a write (tests/runtime/test_worker_batches.py).
        """
        with self._changed:
            return len(self._pending)

    def record(self, finished: Finished) -> HandleResult | Exception:
        """Record ``finished``'s outcome, with others if any; as ``record_outcomes`` says."""
        handed = _Handed(finished)
        with self._changed:
            self._pending.append(handed)
            while handed.result is None and self._writing:
                self._changed.wait()
            if handed.result is not None:
                return handed.result
            self._writing = True
            batch, self._pending = self._pending, []
        # Whatever happens, every thread of the batch gets an answer.
        interrupted = PmcError("the write of the outcomes was interrupted")
        results: Sequence[HandleResult | Exception] = [interrupted] * len(batch)
        try:
            results = self._runner.record_outcomes([each.finished for each in batch])
        except Exception as error:  # a bug: the other threads get it too
            results = [error] * len(batch)
        finally:
            with self._changed:
                for each, result in zip(batch, results, strict=True):
                    each.result = result
                self._writing = False
                self._changed.notify_all()
        assert handed.result is not None
        return handed.result


@dataclass(slots=True)
class _Handed:
    finished: Finished
    result: HandleResult | Exception | None = None


async def run_to_the_end(work: Awaitable[None]) -> None:
    """Await ``work`` to its end even if the caller is cancelled meanwhile, then re-raise that.

    For what follows a handler that returned (its lease stopped, its outcome
    recorded): a cancellation there would drop an outcome the work it stands
    for has already produced.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError
