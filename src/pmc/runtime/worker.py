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

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pmc.runtime import attempts, contract
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
from pmc.runtime.running import DEFAULT_LEASE, timeout_of
from pmc.runtime.state import TaskInFlight
from pmc.runtime.stores.api import ProcessStore, WorkItem, check_name
from pmc.runtime.work import (
    Drop,
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
# wakes it within 100 ms when work arrives, and this bounds how long a stop
# request waits for an idle thread.
IDLE_WAIT = 0.25
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


class Worker:
    """Runs the tasks of one process from a store, in ``concurrency`` threads.

    ``start()`` / ``stop()`` run it in the background; ``run_once()`` does
    what is due now in the calling thread (handy with a store on a fake clock).
    Every time a worker compares or records is read from ``store.now()``: the
    store's clock, which workers on other machines share.
    ``listener`` is called (from worker threads) after every attempt,
    recorded timeout and fired timer, with the totals so far.

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
    ) -> None:
        """``lease`` is the lease of an attempt of a task without ``timeout``,
        renewed every third of it while the handler runs."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        attempts.check_handlers(definition, tasks)
        if worker_id is not None:
            # Recorded in TaskStarted and the work index (VARCHAR(255) columns).
            check_name("worker id", worker_id)
        self.definition = definition
        self.store = store
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        self.lease = lease
        self.claim_seconds = claim_seconds
        self.idle_wait = idle_wait
        self.listener = listener
        self.manager = ProcessManager(
            definition, store, tasks, runner_id=self.worker_id, lease=lease, with_worker=True
        )
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stats = WorkerStats()
        self._stats_lock = threading.Lock()
        self._running: dict[uuid.UUID, threading.Event] = {}

    @property
    def stats(self) -> WorkerStats:
        with self._stats_lock:
            return self._stats

    # ---- in the background -------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError(f"worker {self.worker_id} is already running")
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{self.worker_id}-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()
        logger.info(
            "worker %s started for %s (%d threads)",
            self.worker_id,
            self.definition.category,
            self.concurrency,
            extra=fields(worker=self.worker_id, category=self.definition.category),
        )

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop claiming work and let running attempts finish; True if all did.

        Claimed rows not started yet are released. Attempts still running
        after ``grace`` seconds see ``ctx.cancelled``; if they do not return
        within a second more, they are left to their lease: another worker
        records their timeout and retries them.
        """
        self._stopping.set()
        stopped = _join_all(self._threads, grace)
        if not stopped:
            for cancellation in list(self._running.values()):
                cancellation.set()
            stopped = _join_all(self._threads, 1.0)
        self._threads = []
        logger.info(
            "worker %s stopped%s",
            self.worker_id,
            "" if stopped else " (attempts still running are left to their lease)",
            extra=fields(worker=self.worker_id, category=self.definition.category),
        )
        return stopped

    def _loop(self) -> None:
        try:
            self._rounds()
        finally:
            # The event loop ``async def`` handlers ran on in this thread.
            close_thread_loop()

    def _rounds(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self.run_once(limit=1):
                    self.store.wait_for_due(self.idle_wait, category=self.definition.category)
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

    # ---- one round -------------------------------------------------------------------------

    def run_once(self, limit: int | None = None) -> int:
        """Claim what is due now (at most ``limit`` rows) and do it; the rows handled."""
        items = self.store.claim_due(
            self.store.now(),
            self.worker_id,
            limit or max(self.concurrency, 16),
            self.claim_seconds,
            category=self.definition.category,
        )
        for index, item in enumerate(items):
            if self._stopping.is_set():
                for unstarted in items[index:]:
                    self.store.release(unstarted)
                break
            self.process(item)
        return len(items)

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
            self._process(item)
        except Exception:
            # The row keeps its claim until the claim expires: a row that
            # keeps failing is retried at that pace, not in a busy loop.
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

    def _process(self, item: WorkItem) -> None:
        if item.category != self.definition.category:
            # Only a row handed over by mistake (claims are per category):
            # another process's worker must judge it against its own stream.
            self.store.release(item)
            return
        manager = self.manager
        now = self.store.now()
        state = manager.state(item.key)
        action = due_action(state, item, now)
        match action:
            case Drop():
                set_work(self.store, item, None, judged_at=state.version)
            case NotYet(due_at=due_at):
                set_work(self.store, item, due_at, judged_at=state.version)
            case StartAttempt(task=task):
                self._run_attempt(item, task)
            case TimeOut(task=task):
                result = manager.record(item.key, *timeout_of(self.definition, task, now))
                if self._settle(item, result):
                    report = TimeoutReport.of(
                        self.definition.category,
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
                    attempts.fired_event(self.definition, timer),
                    contract.fired_id(timer.timer_id),
                    timer_due(timer.timer_id, now),
                )
                if self._settle(item, result):
                    self._add(timers_fired=1)
                    self._tell(
                        TimerReport(
                            category=self.definition.category,
                            key=item.key,
                            machine=timer.machine,
                            machine_id=timer.machine_id,
                            timer_id=timer.timer_id,
                            transition=timer.transition,
                        )
                    )
                    self._count_sync_runs(result)

    def _run_attempt(self, item: WorkItem, task: TaskInFlight) -> None:
        cancellation = threading.Event()
        self._running[task.task_id] = cancellation
        try:
            report = self.manager.run_attempt(
                item.key, task, self.worker_id, self.lease, cancellation
            )
        finally:
            self._running.pop(task.task_id, None)
        if report is None:
            # Another worker started this attempt first.
            self.store.release(item)
            return
        self._count(report)
        for sync_report in self.manager.run_sync_tasks(item.key):
            self._count(sync_report)

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


def _join_all(threads: list[threading.Thread], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)
