"""The process manager: records events and their decisions, and runs sync tasks.

The facade over the runtime's parts: ``Recorder`` (the decide/append loop,
on a cache of folded streams) and ``TaskRunner`` (task attempts and their
leases). See ``recorder`` for how a lost race between writers is detected
and decided again.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from event_sourcery import Event

from pmc.runtime import attempts, contract, telemetry
from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.log import fields, logger
from pmc.runtime.preconditions import Precondition
from pmc.runtime.recorder import (
    MAX_CONFLICTS,
    ConflictRetriesExhausted,
    Recorder,
    RecordRequest,
)
from pmc.runtime.results import AttemptReport, HandleManyError, HandleResult, HandleStatus
from pmc.runtime.running import DEFAULT_LEASE, TaskRunner
from pmc.runtime.state import KeyValue, ProcessState, TaskInFlight
from pmc.runtime.stores.api import (
    ProcessStore,
    StoredEvent,
    UnstorableValue,
    check_event,
    check_name,
    check_stream,
    lone_surrogate,
)
from pmc.runtime.work import DEFAULT_SYNC_GRACE

# Importable from here, where they were defined before the runtime was split.
__all__ = [
    "AttemptReport",
    "ConflictRetriesExhausted",
    "HandleResult",
    "HandleStatus",
    "ProcessManager",
    "SyncRetryWarning",
]


class SyncRetryWarning(RuntimeWarning):
    """A sync task's retries wait for a delay, and only a worker runs them when due."""


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
        self._recorder = Recorder(definition, store, sync_grace, max_conflicts)
        self._runner = None if tasks is None else TaskRunner(self._recorder, tasks)
        has_sync_tasks = any(spec.mode == "sync" for spec in definition.tasks.values())
        self._runs_sync_tasks = self._runner is not None and has_sync_tasks
        if tasks is not None and not with_worker:
            _warn_of_delayed_sync_retries(definition)

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
        # The key is the stream's already (``_input_request``): not normalised again.
        request = self._checked_request(*self._input_request((event, event_id)))
        with telemetry.installed().handling(
            self.category, request.key, type(event).__name__
        ) as scope:
            result = self._recorded(request)
            scope.handled(result)
        return result

    def handle_many(
        self, deliveries: Sequence[Event | tuple[Event, str | uuid.UUID | None]]
    ) -> list[HandleResult]:
        """``handle`` for many input events, recorded in few transactions; results in order.

        Each delivery is an event, or an ``(event, event_id)`` pair with the
        delivery id ``handle`` takes. Per stream, the guarantees are those of
        ``handle`` one event at a time, in the order given: the inbox, the
        version check, one decision per event. A delivery that is not an
        input event of this process (a programming error) raises
        ``TypeError`` before anything is written. A delivery whose handling
        raises otherwise (its decision, a key no store can hold) sinks only
        itself, as ``handle`` would have raised for it alone: the others are
        recorded, the later events of its stream decided as if it were not
        there, and then ``HandleManyError`` is raised with every result.

        Sync tasks run once every event is recorded, stream by stream (not
        after each event, as ``handle`` runs them): their reports, and the
        state after them, come with the last result of each stream.
        """
        for delivery in deliveries:
            self._require_input(delivery[0] if isinstance(delivery, tuple) else delivery)
        checked = [self._request_or_error(delivery) for delivery in deliveries]
        requests = [request for request in checked if isinstance(request, RecordRequest)]
        recorded = iter(self._recorder.record_many(requests))
        outcomes = [next(recorded) if isinstance(c, RecordRequest) else c for c in checked]
        # Each stream's sync tasks run after its last event, and report with its result.
        last = {o.key: i for i, o in enumerate(outcomes) if isinstance(o, HandleResult)}
        lasts = set(last.values())
        results = [
            self._run_sync_tasks_after(o) if isinstance(o, HandleResult) and i in lasts else o
            for i, o in enumerate(outcomes)
        ]
        errors = {i: o for i, o in enumerate(results) if isinstance(o, Exception)}
        if errors:
            raise HandleManyError(
                [o if isinstance(o, HandleResult) else None for o in results], errors
            )
        return [o for o in results if isinstance(o, HandleResult)]

    def _request_or_error(
        self, delivery: Event | tuple[Event, str | uuid.UUID | None]
    ) -> RecordRequest | Exception:
        try:
            return self._record_request(*self._input_request(delivery))
        except Exception as error:
            return error

    def _input_request(
        self, delivery: Event | tuple[Event, str | uuid.UUID | None]
    ) -> tuple[str, Event, uuid.UUID]:
        event, event_id = delivery if isinstance(delivery, tuple) else (delivery, None)
        self._require_input(event)
        key = self.definition.key_of(event)
        stored_id = uuid.uuid4() if event_id is None else self.stored_event_id(key, event_id)
        return self.definition.stream_key(key), event, stored_id

    def _require_input(self, event: Event) -> None:
        if not self.definition.is_input(event):
            raise TypeError(
                f"{type(event).__name__} is not an input event of {self.category}; "
                "outcomes are recorded with record(key, event, event_id)"
            )

    def stored_event_id(self, key: KeyValue, event_id: str | uuid.UUID) -> uuid.UUID:
        """The id ``handle`` stores an input event under, for delivery ``event_id`` to ``key``.

        Stores keep event ids unique across all streams (event-sourcery's
        schema), while a delivery id is only unique per stream: one message
        may concern several processes or keys. A text id is taken as it is
        and a UUID as its canonical text, so the same text always maps to the
        same stored id, and a UUID and its ``str`` are one delivery.
        A key no store can hold (too long, a lone surrogate) is refused
        (``UnstorableValue``) before the id is derived from it.
        """
        stream = self.definition.stream_key(key)
        check_name("key", stream)
        return contract.delivery_id(self.category, stream, _delivery(event_id))

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
        return self._recorded(self._record_request(key, event, event_id, precondition))

    def _recorded(self, request: RecordRequest) -> HandleResult:
        return self._run_sync_tasks_after(
            self._recorder.append(
                request.key,
                request.event,
                request.event_id,
                request.precondition,
                checked=request.checked,
            )
        )

    def _record_request(
        self,
        key: KeyValue,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
    ) -> RecordRequest:
        return self._checked_request(self.definition.stream_key(key), event, event_id, precondition)

    def _checked_request(
        self,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
    ) -> RecordRequest:
        """The request to record ``event`` in stream ``key`` (a stream's name, as
        ``stream_key`` gives it), checked first."""
        # Before deciding (task ids derive from the key and the event's text),
        # as the store would refuse them.
        check_stream(self.category, key)
        check_event(event)
        return RecordRequest(key, event, event_id, precondition, checked=True)

    def _run_sync_tasks_after(self, result: HandleResult) -> HandleResult:
        """``result`` with the sync tasks of its stream run (if it has a process instance)."""
        if result.status is HandleStatus.NOT_STARTED or not self._runs_sync_tasks:
            return result
        runs = self.run_sync_tasks(result.key)
        if not runs:
            return result
        return _with_sync_runs(result, runs, self._recorder.cache.current(result.key).state)

    def state(self, key: KeyValue) -> ProcessState:
        """The current state of process ``key`` (the initial state if it has no events).

        A key is accepted in its declared type or as its text (``1`` or ``"1"``).
        """
        key = self.definition.stream_key(key)
        return self._recorder.cache.current(key).state

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
        if self._runner is None or not self._runs_sync_tasks:
            return ()
        return self._runner.run_sync_tasks(key, self.runner_id, self.lease)

    def run_attempt(
        self,
        key: KeyValue,
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
        key = self.definition.stream_key(key)
        return self.task_runner().run_attempt(key, task, worker, lease, cancellation)

    def task_runner(self) -> TaskRunner:
        """What runs this manager's task attempts, on its cache; a ``Worker`` batches with it."""
        if self._runner is None:
            raise ValueError(f"no task handlers given to the {self.category} process manager")
        return self._runner


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
            raise UnstorableValue(f"event_id must not contain {problem}: {event_id[:40]!r}")
        return event_id
    if isinstance(event_id, str):
        raise ValueError("event_id must not be empty (pass None for a random id)")
    raise TypeError(f"event_id is a str or a UUID, not {type(event_id).__name__}")


def _with_sync_runs(
    result: HandleResult, runs: Sequence[AttemptReport], state: ProcessState
) -> HandleResult:
    return replace(result, state=state, sync_runs=tuple(runs))


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
