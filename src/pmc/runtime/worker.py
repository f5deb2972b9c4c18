"""Workers: run async tasks, record timeouts, start due retries, fire timers.

A worker finds what to do in the store's pending-work index, never by
watching streams, so work committed late by a slow writer is found all the
same and a restarted worker finds everything still pending. Claiming a row
only says "I look at this stream now"; what is really due is read from the
stream's state (``pmc.runtime.work.due_action``), and every effect goes
through the process manager's checked append: starting an attempt is
recording ``TaskStarted`` with an id derived from the attempt, so of two
workers only one runs it.

Guarantees: the outcome of every attempt that ran is recorded, once (a
task may then have several, late ones changing nothing; at most one changes
its state); a handler may run more than once for one task (its worker died,
or its attempt timed out and was retried), so handlers should be
idempotent, keyed by ``ctx.task_id``.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypedDict

from pmc.runtime import attempts, contract, telemetry
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.log import fields, logger
from pmc.runtime.loops import close_thread_loop
from pmc.runtime.manager import ProcessManager
from pmc.runtime.preconditions import timer_due
from pmc.runtime.results import (
    AttemptReport,
    Fate,
    HandleResult,
    Progress,
    Report,
    TimeoutReport,
    TimerReport,
)
from pmc.runtime.running import (
    DEFAULT_LEASE,
    Attempt,
    Finished,
    OutcomeBatcher,
    Starts,
    TaskRunner,
    timeout_of,
)
from pmc.runtime.state import TaskInFlight
from pmc.runtime.stores.api import (
    AppendOutcome,
    AppendRequest,
    ProcessStore,
    WorkItem,
    check_name,
    transient,
)
from pmc.runtime.work import (
    Drop,
    DueAction,
    FireTimer,
    NotYet,
    StartAttempt,
    TimeOut,
    due_action,
    set_work,
)

# The reports are importable from here, where they were defined before.
__all__ = ["Progress", "TimeoutReport", "TimerReport", "Worker", "WorkerStats"]

DEFAULT_CONCURRENCY = 1
# How long a claimed index row is ours before another worker may take it:
# only the time between claiming and recording ``TaskStarted`` (after which
# the attempt's own lease counts), so it can be short.
CLAIM_SECONDS = 30.0
# An idle worker waits on the store at most this long at a time: the store
# wakes it when work arrives (see ``ProcessStore.wait_for_due``), and this
# bounds how long a stop request waits for an idle thread.
IDLE_WAIT = 0.25
# Claim rounds failing in a row (each followed by an ``idle_wait`` pause)
# after which a worker is not healthy: it is running, but doing nothing.
UNHEALTHY_AFTER_FAILED_ROUNDS = 2
# The rows a ``run_once`` without a limit claims at most.
RUN_ONCE_LIMIT = 16
STOP_GRACE = 30.0


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Totals since the worker started, for progress output.

    Only what this worker recorded counts: an outcome another runner had
    already recorded, or one refused because it came too late, does not.
    """

    completed: int = 0  # attempts that completed
    failed: int = 0  # tasks that failed for good (a failed or timed-out last attempt)
    retrying: int = 0  # failed or timed-out attempts followed by a scheduled retry
    timed_out: int = 0  # attempts whose lease expired
    timers_fired: int = 0
    crashes: int = 0  # worker threads restarted after an unexpected exception
    # Outcomes recorded late, changing nothing: the instance had left the
    # state, the task had settled (another attempt), or the process had ended.
    late: int = 0


@dataclass(frozen=True, slots=True)
class Served:
    """One process a worker runs the tasks of."""

    definition: ProcessDefinition
    manager: ProcessManager
    runner: TaskRunner
    outcomes: OutcomeBatcher


@dataclass(frozen=True, slots=True)
class _Start:
    """A claimed row whose task's attempt is due to start."""

    served: Served
    item: WorkItem
    task: TaskInFlight


@dataclass(frozen=True, slots=True)
class _Judged:
    """A claimed row and what it asks for, judged on its stream's state at version ``version``.

    ``served`` is None for a row of a process this worker does not serve.
    """

    item: WorkItem
    served: Served | None
    action: DueAction | None
    version: int
    now: datetime  # the time it was judged at


@dataclass(frozen=True, slots=True)
class _Starting:
    """The attempts of one process started with a claim, decided."""

    served: Served
    starts: tuple[_Start, ...]
    planned: Starts


@dataclass(frozen=True, slots=True)
class _Plan:
    """A claim's rows judged: the attempts started with it, and the rows left to do."""

    starting: tuple[_Starting, ...]
    rest: tuple[_Judged, ...]
    unread: tuple[WorkItem, ...]  # rows whose streams the claim did not read: judged after it

    @property
    def appends(self) -> list[AppendRequest]:
        return [append for each in self.starting for append in each.planned.batch.appends]


@dataclass(frozen=True, slots=True)
class _Claimed:
    """What a claim did: the rows claimed, the attempts started, the rows left to do."""

    items: list[WorkItem]
    jobs: list[Job]
    rest: tuple[_Judged, ...]


@dataclass(frozen=True, slots=True)
class Job:
    """A started attempt: its handler must run now."""

    served: Served
    item: WorkItem
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class Settle:
    """A claimed row asking to record a timeout or fire a timer.

    Done by a runner thread, not the claim thread: the decision may plan
    sync tasks, run then and there, and a handler must not hold up claiming.
    """

    served: Served
    item: WorkItem
    action: TimeOut | FireTimer


class WorkerOptions(TypedDict, total=False):
    """The options ``Worker`` takes besides its processes and ``concurrency``, by name.

    ``aio.AsyncWorker`` takes them too (``**options: Unpack[WorkerOptions]``)
    and hands them over as they are: one list of them, one set of defaults.
    """

    worker_id: str | None
    lease: timedelta
    claim_seconds: float
    idle_wait: float
    listener: Callable[[Report, WorkerStats], None] | None
    also_serve: Sequence[tuple[ProcessDefinition, object]]


class Worker:
    """Runs the tasks of one process (or several) from a store, ``concurrency`` at a time.

    ``start()`` / ``stop()`` run it in the background: one thread claims due
    rows of the index, as many as there are idle runner threads, records
    the ``TaskStarted``s of the claimed batch with the claim (one
    transaction: ``ProcessStore.claim_and_append``), and hands the
    attempts to ``concurrency`` runner threads, which record the outcomes of
    attempts finishing together in one write (``running.OutcomeBatcher``).
    ``run_once()`` does what is due now in the calling thread (handy with a
    store on a fake clock), running up to ``concurrency`` attempts at once.
    Every time a worker compares or records is read from ``store.now()``: the
    store's clock, which workers on other machines share.
    ``listener`` is called (from worker threads) after every attempt,
    recorded timeout and fired timer, with the totals so far.
    ``also_serve`` adds processes (definition and task handlers) run by the
    same threads, claiming the due work of all of them.

    The steps of a round are public for ``aio.AsyncWorker``, which runs them
    from an event loop: ``dispatch`` (claim, start, hand the jobs over),
    ``run_job`` (a handler run in the calling thread, its outcome recorded),
    ``record_job``, ``settle_due``, ``wait_for_work`` and ``log_failure``.

    A worker thread survives anything: an exception escaping a round
    (``BaseException`` included, from the store or a listener) is logged,
    counted in ``stats.crashes``, and the thread starts its loop again after
    ``idle_wait``; it ends only when the worker is stopped.
    """

    def __init__(
        self,
        definition: ProcessDefinition,
        store: ProcessStore,
        tasks: object,
        *,
        worker_id: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease: timedelta = DEFAULT_LEASE,
        claim_seconds: float = CLAIM_SECONDS,
        idle_wait: float = IDLE_WAIT,
        listener: Callable[[Report, WorkerStats], None] | None = None,
        also_serve: Sequence[tuple[ProcessDefinition, object]] = (),
    ) -> None:
        """``lease`` is the lease of an attempt of a task without ``timeout``,
        renewed every third of it while the handler runs."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        processes = [(definition, tasks), *also_serve]
        for served_definition, handlers in processes:
            attempts.check_handlers(served_definition, handlers)
        categories = [served_definition.category for served_definition, _ in processes]
        twice = sorted({c for c in categories if categories.count(c) > 1})
        if twice:
            raise ValueError(f"a worker serves each process once: {', '.join(twice)} is repeated")
        if worker_id is not None:
            # Recorded in TaskStarted and the work index (VARCHAR(255) columns).
            check_name("worker id", worker_id)
        self.store = store
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        self.lease = lease
        self.claim_seconds = claim_seconds
        self.idle_wait = idle_wait
        self.listener = listener
        self._served = {
            served_definition.category: self._serve(served_definition, handlers)
            for served_definition, handlers in processes
        }
        # One category as itself, so stores that take only one still work.
        self._claimed: str | tuple[str, ...] = (
            categories[0] if len(categories) == 1 else tuple(categories)
        )
        self.definition = definition
        self.manager = self._served[definition.category].manager
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # Claim rounds that failed in a row (the store refuses claims, say): set
        # by the claim thread only, read by ``healthy``.
        self._failed_rounds = 0
        self._stats = WorkerStats()
        self._stats_lock = threading.Lock()
        self._running: dict[uuid.UUID, threading.Event] = {}
        self._jobs: queue.SimpleQueue[Job | Settle | None] = queue.SimpleQueue()  # None: leave
        self._slots = threading.Condition()
        self._idle_runners = 0

    def _serve(self, definition: ProcessDefinition, tasks: object) -> Served:
        manager = ProcessManager(
            definition,
            self.store,
            tasks,
            runner_id=self.worker_id,
            lease=self.lease,
            with_worker=True,
        )
        runner = manager.task_runner()
        return Served(definition, manager, runner, OutcomeBatcher(runner))

    @property
    def categories(self) -> tuple[str, ...]:
        """The processes this worker runs the tasks of."""
        return tuple(self._served)

    @property
    def stats(self) -> WorkerStats:
        with self._stats_lock:
            return self._stats

    @property
    def healthy(self) -> bool:
        """Started, not asked to stop, every thread of it alive (its claim loop first),
        and its claim rounds not failing (``UNHEALTHY_AFTER_FAILED_ROUNDS`` in a row)."""
        threads = self._threads
        return (
            bool(threads)
            and not self._stopping.is_set()
            and self._failed_rounds < UNHEALTHY_AFTER_FAILED_ROUNDS
            and all(thread.is_alive() for thread in threads)
        )

    # ---- in the background -------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError(f"worker {self.worker_id} is already running")
        self._stopping.clear()
        self._idle_runners = 0
        self._failed_rounds = 0
        self._threads = [threading.Thread(target=self._claim_then_dismiss, name=self.worker_id)]
        self._threads += [
            threading.Thread(
                target=self._guarded,
                args=(self._run_jobs, _until_dismissed),
                name=f"{self.worker_id}-{n}",
            )
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        logger.info(
            "worker %s started for %s (%d threads)",
            self.worker_id,
            ", ".join(self.categories),
            self.concurrency,
            extra=fields(worker=self.worker_id, category=",".join(self.categories)),
        )

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop claiming work and let running attempts finish; True if all did.

        Claimed rows not started yet are released. Attempts still running
        after ``grace`` seconds see ``ctx.cancelled``; if they do not return
        within a second more, they are left to their lease: another worker
        records their timeout and retries them.
        """
        self._stopping.set()
        with self._slots:
            self._slots.notify_all()
        stopped = _join_all(self._threads, grace)
        if not stopped:
            self.cancel_running()
            stopped = _join_all(self._threads, 1.0)
        if not stopped:
            # Where each thread still is: an attempt that ignores
            # ``ctx.cancelled``, or something that should never block.
            logger.warning(
                "worker %s: threads still running after the grace: %s",
                self.worker_id,
                "; ".join(_where(thread) for thread in self._threads if thread.is_alive()),
                extra=fields(worker=self.worker_id),
            )
        self._threads = []
        self.log_stopped(stopped)
        return stopped

    def log_stopped(self, all_finished: bool) -> None:
        """Log that the worker stopped (also ``aio.AsyncWorker``'s stop)."""
        logger.info(
            "worker %s stopped%s",
            self.worker_id,
            "" if all_finished else " (attempts still running are left to their lease)",
            extra=fields(worker=self.worker_id, category=",".join(self.categories)),
        )

    @property
    def stopping(self) -> threading.Event:
        """Set once the worker is told to stop: claiming ends, claimed rows not started are
        released."""
        return self._stopping

    def cancel_running(self) -> None:
        """Ask every attempt running on this worker to stop (``ctx.cancelled``)."""
        for cancellation in list(self._running.values()):
            cancellation.set()

    def attempt_ended(self, attempt: Attempt) -> None:
        """``attempt``'s handler returned (or was cancelled): no longer one to cancel."""
        self._running.pop(attempt.task.task_id, None)

    def _claim_then_dismiss(self) -> None:
        """The claim thread: claim until the worker stops, then dismiss the runners.

        A runner leaves only when dismissed, after every job handed over
        before: an attempt whose ``TaskStarted`` the claim thread was
        recording when the worker was told to stop is run all the same.
        """
        try:
            self._guarded(self._claim_rounds)
        finally:
            for _ in range(self.concurrency):
                self._jobs.put(None)

    def _guarded(
        self, rounds: Callable[[], bool], keep_going: Callable[[Worker], bool] | None = None
    ) -> None:
        """Run ``rounds`` until the worker stops (or ``keep_going`` says so); a
        thread survives anything it raises."""
        going = keep_going or _until_stopped
        try:
            while going(self):
                try:
                    if rounds():
                        return
                except Exception:
                    # The store is unreachable, say: keep trying, slowly.
                    logger.exception(
                        "worker %s: unexpected error",
                        self.worker_id,
                        extra=fields(worker=self.worker_id),
                    )
                    self._stopping.wait(self.idle_wait)
                except BaseException as error:
                    # SystemExit or the like raised in this thread (by a
                    # listener, say): it cannot stop the program from here, and
                    # a silently dead thread would leave a zombie worker.
                    self._add(crashes=1)
                    logger.critical(
                        "worker %s: thread %s crashed (%s: %s); restarting its loop",
                        self.worker_id,
                        threading.current_thread().name,
                        type(error).__name__,
                        error,
                        exc_info=True,
                        extra=fields(worker=self.worker_id),
                    )
                    self._stopping.wait(self.idle_wait)
        finally:
            # The event loop ``async def`` handlers ran on in this thread.
            close_thread_loop()

    def _claim_rounds(self) -> bool:
        """Claim rows while runner threads are idle; wait on the store when nothing is due."""
        while not self._stopping.is_set():
            try:
                idle = self._wait_for_idle_runners()
                if idle and not self.dispatch(idle, self._hand_over):
                    self.wait_for_work()
            except Exception:
                self._failed_rounds += 1
                raise  # logged by ``_guarded``, which tries again after a pause
            self._failed_rounds = 0
        return True

    def _wait_for_idle_runners(self) -> int:
        with self._slots:
            if not self._idle_runners:
                self._slots.wait(self.idle_wait)
            return self._idle_runners

    def wait_for_work(self) -> None:
        # Each call waits at most ``idle_wait``, so a stop request is seen
        # soon; the store decides how often it really asks the database.
        while not self._stopping.is_set():
            if self.store.wait_for_due(self.idle_wait, category=self._claimed):
                return

    def dispatch(self, idle: int, hand_over: Callable[[Sequence[Job | Settle]], None]) -> int:
        """Claim up to ``idle`` rows and ``hand_over`` their started attempts (and
        the timeouts and timers to record) to idle runners: threads, or
        ``aio.AsyncWorker``'s tasks."""
        claimed = self._claim(idle, starting=idle)
        hand_over(claimed.jobs)
        # Only then the rest: the attempts' leases run already.
        judged = self._judge_all(claimed.rest)
        jobs: list[Job | Settle] = [j for j in judged if isinstance(j, Settle)]
        jobs += self._start([j for j in judged if isinstance(j, _Start)])
        hand_over(jobs)
        return len(claimed.items)

    def _hand_over(self, jobs: Sequence[Job | Settle]) -> None:
        with self._slots:
            self._idle_runners -= len(jobs)
        for job in jobs:
            self._jobs.put(job)

    def _run_jobs(self) -> bool:
        """A runner thread: run the attempts handed over until the claim thread dismisses it."""
        while True:
            with self._slots:
                self._idle_runners += 1
                self._slots.notify_all()
            # Counted idle again at the top of the loop, also after a crash.
            job = self._next_job()
            if job is None:
                return True
            if isinstance(job, Settle):
                self.settle_due(job)
            else:
                self.run_job(job)

    def _next_job(self) -> Job | Settle | None:
        """The next job handed over; None once the claim thread dismissed this runner."""
        return self._jobs.get()

    # ---- one round -------------------------------------------------------------------------

    def run_once(self, limit: int | None = None) -> int:
        """Claim what is due now (at most ``limit`` rows) and do it; the rows handled.

        The attempts due start ``concurrency`` at a time, each batch's
        ``TaskStarted``s recorded together (the first batch's with the
        claim), their handlers run at once and their outcomes recorded
        together.
        """
        claimed = self._claim(limit or max(self.concurrency, RUN_ONCE_LIMIT), self.concurrency)
        starts: list[_Start] = []
        for judged in self._judge_all(claimed.rest):
            if isinstance(judged, Settle):
                self.settle_due(judged)
            else:
                starts.append(judged)
        self._run_together(claimed.jobs)
        for first in range(0, len(starts), self.concurrency):
            if self._stopping.is_set():
                self._release([start.item for start in starts[first:]])
                break
            self._run_together(self._start(starts[first : first + self.concurrency]))
        return len(claimed.items)

    def drain(self, max_rounds: int = 1000) -> int:
        """``run_once`` until nothing is due at the store's time; the rows handled."""
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            if not handled:
                return total
            total += handled
        raise RuntimeError(f"work still due after {max_rounds} rounds")

    def process(self, item: WorkItem) -> None:
        """Do what a claimed index row asks for, judged from its stream's state."""
        try:
            judged = self._judged(item, self.store.now())
        except Exception:
            self.log_failure(item)
            return
        for each in self._judge_all([judged]):
            if isinstance(each, Settle):
                self.settle_due(each)
            else:
                self._run_together(self._start([each]))

    def _claim(self, limit: int, starting: int) -> _Claimed:
        """Claim up to ``limit`` rows, starting the first ``starting`` attempts due with the claim.

        One transaction: the claim reads the claimed streams' new events
        (judging a row then costs no read), and the ``TaskStarted``s of the
        attempts due, decided on them, are recorded with it. What the other
        rows ask for is left to the caller (``_Claimed.rest``), and so are
        the rows of streams the claim did not read in its transaction (a
        long tail under SQLite's write lock): their attempts start after it.
        """
        now = self.store.now()
        planned: list[_Plan] = []

        def appends(items: Sequence[WorkItem]) -> Sequence[AppendRequest]:
            # Called in the claim's transaction.
            planned[:] = [self._plan(items, now, starting)]
            return planned[0].appends

        try:
            claimed = self.store.claim_and_append(
                now,
                self.worker_id,
                limit,
                self.claim_seconds,
                appends,
                category=self._claimed,
                read_after=self._known_version,
            )
        except Exception as error:
            if transient(error):
                raise  # nothing was written: the next round claims again
            return self._claim_alone(limit, now, error)
        telemetry.installed().claimed(claimed.items, now)
        (plan,) = planned
        jobs: list[Job] = []
        appended = iter(claimed.appended)
        for starting_of in plan.starting:
            recorded = [next(appended) for _ in starting_of.planned.batch.appends]
            cancellations = [threading.Event() for _ in starting_of.starts]
            jobs += self._started(
                starting_of.served, starting_of.starts, starting_of.planned, recorded, cancellations
            )
        # The rows whose streams the claim left unread, judged on the tails
        # the store read after it (``claim_and_append``): started later.
        unread = {(item.category, item.key, item.work_id) for item in plan.unread}
        later = [
            item for item in claimed.items if (item.category, item.key, item.work_id) in unread
        ]
        return _Claimed(claimed.items, jobs, plan.rest + self._plan(later, now, 0).rest)

    def _claim_alone(self, limit: int, now: datetime, error: Exception) -> _Claimed:
        """Claim without starting anything, after the store refused a claim with its starts.

        A start the store refuses (not a blip) undid the claim of every row
        with it: claimed again without them, each row is judged and its
        attempt started after the claim, where a start that fails leaves
        its row claimed until the claim expires, and the other rows go on.
        """
        logger.warning(
            "worker %s: a claim with its starts failed (%s: %s); claiming without them",
            self.worker_id,
            type(error).__name__,
            error,
            extra=fields(worker=self.worker_id),
        )
        items = self.store.claim_due(
            now,
            self.worker_id,
            limit,
            self.claim_seconds,
            category=self._claimed,
            read_after=self._known_version,
        )
        telemetry.installed().claimed(items, now)
        return _Claimed(items, [], self._plan(items, now, starting=0).rest)

    def _plan(self, items: Sequence[WorkItem], now: datetime, starting: int) -> _Plan:
        """The claimed ``items`` judged, with the ``TaskStarted``s of the first ``starting`` due.

        Pure but for the folds it caches: it runs in the claim's transaction.
        A row whose judging fails is logged and keeps its claim until the
        claim expires, as a row whose start fails to be decided.
        """
        starts: list[_Start] = []
        rest: list[_Judged] = []
        unread: list[WorkItem] = []
        for item in items:
            if item.tail is None:
                # Its stream is read after the claim commits (see ``_claim``).
                unread.append(item)
                continue
            try:
                judged = self._judged(item, now)
            except Exception:
                self.log_failure(item)
                continue
            match judged.action:
                case StartAttempt(task=task) if len(starts) < starting and judged.served:
                    starts.append(_Start(judged.served, item, task))
                case _:
                    rest.append(judged)
        planned: list[_Starting] = []
        for served in self._served.values():
            mine = [start for start in starts if start.served is served]
            if not mine:
                continue
            try:
                plan = served.runner.plan_starts(
                    [(start.item.key, start.task) for start in mine],
                    self.worker_id,
                    self.lease,
                    now,
                )
            except Exception:
                for start in mine:
                    self.log_failure(start.item)
                continue
            planned.append(_Starting(served, tuple(mine), plan))
        return _Plan(tuple(planned), tuple(rest), tuple(unread))

    def _known_version(self, category: str, key: str) -> int:
        served = self._served.get(category)
        return 0 if served is None else served.runner.cache.known_version(key)

    def _judge_all(self, judged: Sequence[_Judged]) -> list[_Start | Settle]:
        """Do what the judged rows ask for but what to start or record: those are returned."""
        found: list[_Start | Settle] = []
        for index, each in enumerate(judged):
            if self._stopping.is_set():
                self._release([rest.item for rest in judged[index:]])
                break
            try:
                start = self._act(each)
            except Exception:
                self.log_failure(each.item)
                continue
            if start is not None:
                found.append(start)
        return found

    def _judged(self, item: WorkItem, now: datetime) -> _Judged:
        """What ``item`` asks for at ``now``, judged on its stream's fold (and the claim's tail)."""
        served = self._served.get(item.category)
        if served is None:
            return _Judged(item, None, None, 0, now)
        cache = served.runner.cache
        folded = (
            cache.current(item.key) if item.tail is None else cache.advance(item.key, item.tail)
        )
        return _Judged(item, served, due_action(folded.state, item, now), folded.state.version, now)

    def _act(self, judged: _Judged) -> _Start | Settle | None:
        """Do what a judged row asks for, but starts, timeouts and timers: returned."""
        item, served, action = judged.item, judged.served, judged.action
        if served is None:
            # Only a row handed over by mistake (claims are per category):
            # another process's worker must judge it against its own stream.
            self.store.release(item)
            return None
        match action:
            case Drop():
                set_work(self.store, item, None, judged_at=judged.version)
            case NotYet(due_at=due_at):
                set_work(self.store, item, due_at, judged_at=judged.version)
            case StartAttempt(task=task):
                return _Start(served, item, task)
            case TimeOut() | FireTimer():
                return Settle(served, item, action)
        return None

    def settle_due(self, settle: Settle) -> None:
        """Record the timeout or fire the timer of ``settle``, and run the sync tasks it plans."""
        try:
            self._record_due(settle)
        except Exception:
            # The row keeps its claim until the claim expires.
            self.log_failure(settle.item)

    def _record_due(self, settle: Settle) -> None:
        definition, manager, item = settle.served.definition, settle.served.manager, settle.item
        now = self.store.now()
        match settle.action:
            case TimeOut(task=task):
                result = manager.record(item.key, *timeout_of(definition, task, now))
                if self._settle(item, result):
                    telemetry.installed().timed_out(
                        definition.category, task, result.retry_scheduled
                    )
                    report = TimeoutReport.of(
                        definition.category,
                        item.key,
                        task,
                        retry_scheduled=result.retry_scheduled,
                    )
                    self._add(timed_out=1, **_after_failure(report.retry_scheduled))
                    self._tell(report)
                    self._count_sync_runs(result)
            case FireTimer(timer=timer):
                result = manager.record(
                    item.key,
                    attempts.fired_event(definition, timer),
                    contract.fired_id(timer.timer_id),
                    timer_due(timer.timer_id, now),
                )
                if self._settle(item, result):
                    self._add(timers_fired=1)
                    self._tell(
                        TimerReport(
                            category=definition.category,
                            key=item.key,
                            machine=timer.machine,
                            machine_id=timer.machine_id,
                            timer_id=timer.timer_id,
                            transition=timer.transition,
                        )
                    )
                    self._count_sync_runs(result)

    def _start(self, starts: Sequence[_Start]) -> list[Job]:
        """Start the attempts of ``starts``: one ``TaskStarted`` write per process served.

        A row whose attempt another worker started first is released (the
        append that would have rewritten it did not happen).
        """
        jobs: list[Job] = []
        for served in self._served.values():
            mine = [start for start in starts if start.served is served]
            if mine:
                jobs += self._start_of(served, mine)
        return jobs

    def _start_of(self, served: Served, starts: Sequence[_Start]) -> list[Job]:
        cancellations = [threading.Event() for _ in starts]
        try:
            planned = served.runner.plan_starts(
                [(start.item.key, start.task) for start in starts],
                self.worker_id,
                self.lease,
                self.store.now(),
            )
        except Exception:
            return self._not_started(starts)
        try:
            recorded = self.store.append_many(planned.batch.appends)
        except Exception as error:
            if len(starts) > 1 and not transient(error):
                # Refused as data: one by one, so that one start the store
                # refuses does not keep the others from running.
                return [job for start in starts for job in self._start_of(served, [start])]
            logger.exception("worker %s: starting %d attempts failed", self.worker_id, len(starts))
            try:
                # The write may have landed (its answer lost): those attempts
                # are this worker's now and must run, not wait out their lease.
                landed = served.runner.started_as_read(planned, cancellations)
            except Exception:
                return self._not_started(starts)
            return self._jobs_of(served, starts, landed, release=False)
        return self._started(served, starts, planned, recorded, cancellations)

    def _started(
        self,
        served: Served,
        starts: Sequence[_Start],
        planned: Starts,
        recorded: Sequence[AppendOutcome],
        cancellations: Sequence[threading.Event],
    ) -> list[Job]:
        """The jobs of the attempts of ``starts`` whose ``TaskStarted``s were recorded."""
        try:
            started = served.runner.started(planned, recorded, cancellations)
        except Exception:
            return self._not_started(starts)
        return self._jobs_of(served, starts, started, release=True)

    def _jobs_of(
        self,
        served: Served,
        starts: Sequence[_Start],
        started: Sequence[Attempt | None],
        *,
        release: bool,
    ) -> list[Job]:
        """The jobs of the attempts ``started``; the rows of the others released if ``release``.

        Released when the store answered that another worker started the
        attempt first; kept claimed (until the claim expires) when the
        write failed, so that a start the store keeps refusing is retried
        at that pace, not in a busy loop.
        """
        jobs: list[Job] = []
        for start, attempt in zip(starts, started, strict=True):
            if attempt is None:
                if release:
                    self.store.release(start.item)
                else:
                    self.log_failure(start.item)
                continue
            self._running[attempt.task.task_id] = attempt.context.cancellation
            jobs.append(Job(served, start.item, attempt))
        return jobs

    def _not_started(self, starts: Sequence[_Start]) -> list[Job]:
        # Called while handling an error: the rows keep their claims until
        # the claims expire.
        for start in starts:
            self.log_failure(start.item)
        return []

    def _run_together(self, jobs: Sequence[Job]) -> None:
        """Run started attempts at once: the first here, each other one in a thread of its own."""
        helpers = [
            threading.Thread(target=_in_own_loop, args=(self.run_job, job), daemon=True)
            for job in jobs[1:]
        ]
        for helper in helpers:
            helper.start()
        try:
            if jobs:
                self.run_job(jobs[0])
        finally:
            for helper in helpers:
                helper.join()

    def run_job(self, job: Job) -> None:
        """Run a started attempt's handler, record its outcome (with others), count it."""
        served, attempt = job.served, job.attempt
        try:
            finished = served.runner.run_handler(attempt, self.lease)
        except Exception as error:
            attempt.telemetry.abandoned(error)
            self.log_failure(job.item)
            return
        except BaseException as error:
            # Left to its lease too, the thread's loop restarted (``_guarded``):
            # its span ends all the same.
            attempt.telemetry.abandoned(error)
            raise
        finally:
            self.attempt_ended(attempt)
        self.record_job(job, finished)

    def record_job(self, job: Job, finished: Finished) -> None:
        """Record a finished attempt's outcome (with others), count it, run the sync tasks due."""
        served = job.served
        try:
            recorded = served.outcomes.record(finished)
            if isinstance(recorded, Exception):
                raise recorded
            report = served.runner.report(finished, recorded)
        except Exception as error:
            job.attempt.telemetry.abandoned(error)
            # The row keeps its claim until the claim expires: a row that
            # keeps failing is retried at that pace, not in a busy loop.
            self.log_failure(job.item)
            return
        except BaseException as error:
            job.attempt.telemetry.abandoned(error)
            raise
        self._count(report)
        if served.runner.sync_task_due(job.item.key):
            for sync_report in served.manager.run_sync_tasks(job.item.key):
                self._count(sync_report)

    def _release(self, items: Sequence[WorkItem]) -> None:
        for item in items:
            self.store.release(item)

    def log_failure(self, item: WorkItem) -> None:
        logger.exception(
            "worker %s: %s/%s %s failed",
            self.worker_id,
            item.category,
            item.key,
            item.work_id,
            extra=fields(
                worker=self.worker_id,
                category=item.category,
                key=item.key,
                work_id=item.work_id,
            ),
        )

    def _settle(self, item: WorkItem, result: HandleResult) -> bool:
        """Whether ``result`` was recorded; if not, the row still carries our claim: release it."""
        if result.recorded:
            return True
        self.store.release(item)
        return False

    def _count_sync_runs(self, result: HandleResult) -> None:
        for report in result.sync_runs:
            self._count(report)

    # ---- stats -------------------------------------------------------------------------------

    def _count(self, report: AttemptReport) -> None:
        if not report.recorded.recorded:
            # Another runner recorded this attempt's outcome first: not this
            # worker's result.
            pass
        elif report.late:
            self._add(late=1)
        elif report.outcome == "completed":
            self._add(completed=1)
        else:
            self._add(**_after_failure(report.retry_scheduled))
        self._tell(report)

    def _tell(self, progress: Report) -> None:
        if self.listener is not None:
            self.listener(progress, self.stats)

    def _add(self, **counts: int) -> None:
        with self._stats_lock:
            stats = self._stats
            self._stats = WorkerStats(
                **{
                    name: getattr(stats, name) + counts.get(name, 0)
                    for name in WorkerStats.__dataclass_fields__
                }
            )


# The ``WorkerStats`` count of each fate of a failed or timed-out attempt.
_FATE_COUNTS = {Fate.RETRYING: "retrying", Fate.FAILED: "failed"}


def _after_failure(retry_scheduled: bool) -> dict[str, int]:
    """What a failed or timed-out attempt adds to the stats."""
    return {_FATE_COUNTS[Fate.of(retry_scheduled)]: 1}


def _in_own_loop(run: Callable[[Job], None], job: Job) -> None:
    """``run(job)`` in a thread of its own, closing the event loop it may have opened."""
    try:
        run(job)
    finally:
        close_thread_loop()


def _where(thread: threading.Thread) -> str:
    """``thread``'s name and the innermost frames it is in, for a log line."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return thread.name
    calls = traceback.extract_stack(frame)[-3:]
    return f"{thread.name} in " + " <- ".join(
        f"{call.name} ({Path(call.filename).name}:{call.lineno})" for call in reversed(calls)
    )


def _until_stopped(worker: Worker) -> bool:
    return not worker._stopping.is_set()


def _until_dismissed(worker: Worker) -> bool:
    # A runner's rounds end only when the claim thread dismisses it.
    return True


def _join_all(threads: list[threading.Thread], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)
