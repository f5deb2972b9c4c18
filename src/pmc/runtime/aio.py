"""asyncio services: a process manager and a worker for code running on an event loop.

Why threads: event-sourcery's API and pmc's stores are synchronous
(SQLAlchemy sessions, psycopg2, sqlite3), and a call into them blocks the
thread it runs on. Both classes here run that I/O in a thread pool of a
bounded size, so the event loop keeps serving while a transaction waits, and
they delegate every decision and every write to the synchronous runtime
(``ProcessManager``, ``Worker``, ``TaskRunner``): the guarantees are the same
because the code is the same — the inbox, the version checks, group commit,
the claim, leases, timeouts and retries. Only the ``async def`` task handlers
run on the event loop itself, many at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from event_sourcery import Event

if TYPE_CHECKING:
    # typing.Unpack for **kwargs is Python 3.12's; only mypy reads it here.
    from typing_extensions import Unpack

from pmc.errors import PmcError
from pmc.runtime import attempts
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.log import fields, log_attempt, logger
from pmc.runtime.manager import ProcessManager
from pmc.runtime.preconditions import Precondition
from pmc.runtime.results import AttemptReport, HandleResult
from pmc.runtime.running import Finished, Lease
from pmc.runtime.state import KeyValue, ProcessState
from pmc.runtime.stores.api import ProcessStore, StoredEvent
from pmc.runtime.work import TimeOut
from pmc.runtime.worker import (
    STOP_GRACE,
    Job,
    Settle,
    Worker,
    WorkerOptions,
    WorkerStats,
)

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_THREADS",
    "AsyncProcessManager",
    "AsyncWorker",
    "WorkerStopped",
]

_T = TypeVar("_T")

# Threads for store I/O: a few suffice, since each
# call is a short transaction; more would only queue on the database (and
# SQLite takes one writer at a time anyway).
DEFAULT_THREADS = 4
# ``async def`` handlers running at once on one worker's event loop.
DEFAULT_MAX_CONCURRENCY = 16
# How long ``stop`` waits for attempts it cancelled, as ``Worker.stop`` does.
CANCEL_WAIT = 1.0


class WorkerStopped(PmcError, RuntimeError):
    """``start`` on an ``AsyncWorker`` already stopped (or closed): its pools are shut down."""


def _job_name(job: Job | Settle) -> str:
    return f"{job.served.definition.category}/{job.item.key}"


async def _in_daemon_thread(call: Callable[..., None], *args: object) -> None:
    """Await ``call(*args)`` run in a new daemon thread (with the caller's context variables).

    Cancelling the wait leaves the thread running: it is a daemon, so it
    does not hold the interpreter's exit as a ``ThreadPoolExecutor``'s
    threads do (they are joined at exit).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    context = contextvars.copy_context()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return  # the wait was cancelled
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            context.run(call, *args)
        except BaseException as raised:  # handed to the awaiting task
            error = raised
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, daemon=True, name=getattr(call, "__name__", "call")).start()
    await done


class _OffLoop:
    """A bounded thread pool the synchronous runtime's calls are awaited on."""

    def __init__(self, threads: int, name: str) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def __call__(self, call: Callable[..., _T], *args: object) -> _T:
        # The caller's context variables (a trace, say) go along with the call.
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(context.run, call, *args))

    def close(self) -> None:
        """No new calls; those under way finish in their threads (their writes land)."""
        self._pool.shutdown(wait=False)


class _LeftByAsyncWith:
    """``async with``'s exit, for a class saying what leaving it does (``_leave``)."""

    async def _leave(self) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._leave()


class AsyncProcessManager(_LeftByAsyncWith):
    """A ``ProcessManager`` awaited from an event loop, its store I/O run in ``threads`` threads.

    Every method delegates to ``manager``, in a thread of the pool: the same
    inbox (a delivery id handled twice is ``DEDUPLICATED``), the same
    version checks and conflict retries, the same group commit for
    ``handle_many``. Sync tasks ``handle`` runs inline run in that thread too
    (an ``async def`` one on the thread's own event loop, as ``handle`` does).
    ``close()`` (or leaving ``async with``) shuts the pool down.
    """

    def __init__(self, manager: ProcessManager, *, threads: int = DEFAULT_THREADS) -> None:
        self.manager = manager
        self._off_loop = _OffLoop(threads, f"pmc-{manager.category}")

    @property
    def category(self) -> str:
        return self.manager.category

    async def handle(self, event: Event, event_id: str | uuid.UUID | None = None) -> HandleResult:
        """``ProcessManager.handle``, awaited."""
        return await self._off_loop(self.manager.handle, event, event_id)

    async def handle_many(
        self, deliveries: Sequence[Event | tuple[Event, str | uuid.UUID | None]]
    ) -> list[HandleResult]:
        """``ProcessManager.handle_many``, awaited."""
        return await self._off_loop(self.manager.handle_many, deliveries)

    async def record(
        self,
        key: KeyValue,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
    ) -> HandleResult:
        """``ProcessManager.record``, awaited."""
        return await self._off_loop(self.manager.record, key, event, event_id, precondition)

    async def state(self, key: KeyValue) -> ProcessState:
        """``ProcessManager.state``, awaited (a stream with new events is read)."""
        return await self._off_loop(self.manager.state, key)

    async def history(self, key: KeyValue) -> list[StoredEvent]:
        """``ProcessManager.history``, awaited."""
        return await self._off_loop(self.manager.history, key)

    async def replay(self, key: KeyValue) -> ProcessState:
        """``ProcessManager.replay``, awaited."""
        return await self._off_loop(self.manager.replay, key)

    async def run_sync_tasks(self, key: KeyValue) -> tuple[AttemptReport, ...]:
        """``ProcessManager.run_sync_tasks``, awaited."""
        return await self._off_loop(self.manager.run_sync_tasks, key)

    def stored_event_id(self, key: KeyValue, event_id: str | uuid.UUID) -> uuid.UUID:
        """``ProcessManager.stored_event_id``: no I/O, so not awaited."""
        return self.manager.stored_event_id(key, event_id)

    def close(self) -> None:
        """Shut the pool down: calls under way finish, no new call is taken."""
        self._off_loop.close()

    async def __aenter__(self) -> AsyncProcessManager:
        return self

    async def _leave(self) -> None:
        self.close()


class AsyncWorker(_LeftByAsyncWith):
    """A ``Worker`` whose ``async def`` handlers run on the event loop, ``max_concurrency`` at once.

    It claims, starts, records and retries through the threaded ``Worker``'s
    own code (``worker.Worker``), each store call in one of ``threads``
    threads: the same claim of the work index with the ``TaskStarted``s of
    the attempts, the same outcome batching, timeouts, timers and stats. A
    handler's lease is renewed while it runs, as in the threaded worker. What
    differs is how an ``async def`` handler runs: as an asyncio task on the
    loop ``start()`` was awaited on, cancelled when the task's ``timeout``
    passes (then ``TaskTimedOut`` is recorded, as the worker that finds the
    lease expired records it, whatever the handler did once its timeout
    passed). It must not block the loop: a blocked loop runs nothing else
    and cannot cancel it. A ``def`` handler of the same tasks object runs in
    a daemon thread of its own, exactly as a threaded worker runs it (not
    cancelled: its lease expires, and its late outcome is recorded).

    ``start()`` starts claiming in the background; ``stop(grace)`` stops
    claiming and waits ``grace`` seconds for the running attempts, then
    cancels those left (``ctx.cancelled`` is set as well) and waits a second
    more, no longer (a handler may swallow its cancellation). A cancelled
    attempt records nothing: left to its lease, it times out and is retried,
    as a threaded worker leaves an attempt still running after its grace. An
    attempt whose handler returned has its outcome recorded, cancelled or not
    (stopping its lease and the write are shielded from the cancellation).
    A stopped worker is not started again (``WorkerStopped``). ``run_once()`` and
    ``drain()`` do what is due now and await it (handy with a fake clock).
    """

    def __init__(
        self,
        definition: ProcessDefinition,
        store: ProcessStore,
        tasks: object,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        threads: int = DEFAULT_THREADS,
        **options: Unpack[WorkerOptions],
    ) -> None:
        """As ``Worker`` takes them (``options``), ``max_concurrency`` for its
        ``concurrency``; the ``listener`` is called from the loop or from a pool thread."""
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self._worker = Worker(definition, store, tasks, concurrency=max_concurrency, **options)
        self.max_concurrency = max_concurrency
        self._off_loop = _OffLoop(threads, f"{self._worker.worker_id}-io")
        # Claims, and waits for work while idle, in a thread of their own, as
        # the threaded worker's claim thread: a wait holds no thread the
        # attempts' writes need.
        self._claims = _OffLoop(1, f"{self._worker.worker_id}-claim")
        self._jobs: set[asyncio.Task[None]] = set()
        self._claiming: asyncio.Task[None] | None = None
        self._slot_freed = asyncio.Event()
        self._closed = False

    @property
    def worker_id(self) -> str:
        return self._worker.worker_id

    @property
    def categories(self) -> tuple[str, ...]:
        return self._worker.categories

    @property
    def stats(self) -> WorkerStats:
        return self._worker.stats

    # ---- in the background ---------------------------------------------------------------

    async def start(self) -> None:
        """Claim and run work in the background, on the running event loop, until ``stop``."""
        if self._closed:
            raise WorkerStopped(
                f"worker {self.worker_id} was stopped (its thread pools are shut down):"
                " create a new AsyncWorker to start again"
            )
        if self._claiming is not None:
            raise RuntimeError(f"worker {self.worker_id} is already running")
        self._worker.stopping.clear()
        self._claiming = asyncio.create_task(self._claim_rounds(), name=self.worker_id)
        logger.info(
            "worker %s started for %s (asyncio, up to %d at once)",
            self.worker_id,
            ", ".join(self.categories),
            self.max_concurrency,
            extra=fields(worker=self.worker_id, category=",".join(self.categories)),
        )

    async def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop claiming, let running attempts finish; True if all did within ``grace`` seconds.

        Those still running then are cancelled (see the class); the thread
        pool is shut down, so a stopped worker is not started again.
        """
        self._worker.stopping.set()
        self._slot_freed.set()
        if self._claiming is not None:
            await self._claiming
            self._claiming = None
        finished = await self._wait_for_jobs(grace)
        self.close()
        self._worker.log_stopped(finished)
        return finished

    async def __aenter__(self) -> AsyncWorker:
        await self.start()
        return self

    async def _leave(self) -> None:
        await self.stop()

    async def _wait_for_jobs(self, grace: float) -> bool:
        if not self._jobs:
            return True
        _, late = await asyncio.wait(set(self._jobs), timeout=grace)
        if not late:
            return True
        self._worker.cancel_running()
        for job in late:
            job.cancel()
        # As the threaded worker's stop: a second more, no longer. A handler
        # that swallows its cancellation must not hold a service's shutdown.
        _, ignoring = await asyncio.wait(late, timeout=CANCEL_WAIT)
        if ignoring:
            logger.warning(
                "worker %s: attempts still running after their cancellation: %s",
                self.worker_id,
                "; ".join(job.get_name() for job in ignoring),
                extra=fields(worker=self.worker_id),
            )
        return False

    async def _claim_rounds(self) -> None:
        """Claim rows while fewer than ``max_concurrency`` jobs run; wait on the store when idle."""
        worker = self._worker
        try:
            await self._claim_until_stopped()
        finally:
            # Cancelled (the loop ends without ``stop``, say): the claim
            # thread's wait for work ends too, or the interpreter's exit,
            # which joins the pool's threads, would wait for it forever.
            worker.stopping.set()

    async def _claim_until_stopped(self) -> None:
        worker = self._worker
        while not worker.stopping.is_set():
            self._slot_freed.clear()
            idle = self.max_concurrency - len(self._jobs)
            if idle <= 0:
                await self._slot_freed.wait()
                continue
            try:
                if not await self._dispatch(idle):
                    await self._claims(worker.wait_for_work)
            except Exception:
                # The store is unreachable, say: keep trying, slowly.
                logger.exception(
                    "worker %s: unexpected error",
                    self.worker_id,
                    extra=fields(worker=self.worker_id),
                )
                await asyncio.sleep(worker.idle_wait)

    async def _dispatch(self, idle: int) -> int:
        """``Worker.dispatch`` in a pool thread, its jobs handed over to this loop."""
        loop = asyncio.get_running_loop()

        def hand_over(jobs: Sequence[Job | Settle]) -> None:
            # Called from the pool thread: the jobs are spawned on the loop,
            # in order, before the dispatch's own result is (both are queued
            # with call_soon_threadsafe), so the next round counts them.
            loop.call_soon_threadsafe(self._spawn_all, list(jobs))

        return await self._claims(self._worker.dispatch, idle, hand_over)

    def _spawn_all(self, jobs: Sequence[Job | Settle]) -> None:
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=_job_name(job))
            self._jobs.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._jobs.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            # ``_run`` logs what a job raises; only a bug gets here.
            logger.error("worker %s: a job failed", self.worker_id, exc_info=task.exception())

    # ---- one job ---------------------------------------------------------------------------

    async def _run(self, job: Job | Settle) -> None:
        worker = self._worker
        if isinstance(job, Settle):
            await self._off_loop(worker.settle_due, job)
            return
        served, attempt = job.served, job.attempt
        if not attempts.is_async_handler(
            served.definition, served.manager.tasks, attempt.task.task
        ):
            # A thread of its own, a daemon as the threaded worker's: a
            # handler outliving ``stop`` must not hold the interpreter's exit.
            await _in_daemon_thread(worker.run_job, job)
            return

        async def record(finished: Finished | None) -> None:
            if finished is None:
                attempt.telemetry.abandoned(TimeoutError(f"{attempt.task.task} timed out"))
                # Its timeout passed: recorded as any worker records an expired
                # lease (if the store's clock is not there yet, the row, due at
                # the lease's end, has it recorded then).
                timed_out = Settle(served, job.item, TimeOut(attempt.task))
                await self._off_loop(worker.settle_due, timed_out)
            else:
                await self._off_loop(worker.record_job, job, finished)

        try:
            await served.runner.run_handler_async(attempt, worker.lease, self._stop_keeping, record)
        except asyncio.CancelledError as cancelled:
            attempt.telemetry.abandoned(cancelled)
            log_attempt(
                "cancelled (the worker stopped, or its loop ended); left to its lease"
                " unless its handler had returned",
                served.definition.category,
                attempt.key,
                attempt.task,
                attempt.worker,
            )
            raise
        except Exception as error:
            attempt.telemetry.abandoned(error)
            worker.log_failure(job.item)
        finally:
            worker.attempt_ended(attempt)

    async def _stop_keeping(self, lease: Lease) -> None:
        await self._off_loop(lease.stop)

    # ---- one round -------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim what is due now (up to ``max_concurrency`` rows), run it, await it; the rows."""
        handled = await self._dispatch(self.max_concurrency)
        while self._jobs:
            await asyncio.wait(set(self._jobs))
        return handled

    async def drain(self, max_rounds: int = 1000) -> int:
        """``run_once`` until nothing is due at the store's time; the rows handled."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            if not handled:
                return total
            total += handled
        raise RuntimeError(f"work still due after {max_rounds} rounds")

    def close(self) -> None:
        """Shut the thread pools down, as ``stop`` does: for a worker run with ``run_once`` only."""
        self._closed = True
        self._claims.close()
        self._off_loop.close()
