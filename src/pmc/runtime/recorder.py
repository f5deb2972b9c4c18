"""The decide/append loop: one event recorded with its decisions, or nothing.

Each event is recorded with the events decided on it in ONE append at the
version the decision was made on, together with the pending-work index
changes that follow from it. If another writer got there first, the stream
is read again and the decision made again on the new state; the store checks
versions on every backend, so a lost race is always detected, never merged.
That check is also what lets a decision be made on the cached fold of a
stream without reading it first: a stale fold is a lost race like any other.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime import contract, engine, telemetry
from pmc.runtime.cache import Folded, StreamCache
from pmc.runtime.definition import EventMeta, ProcessDefinition
from pmc.runtime.instances import instance_update
from pmc.runtime.lifecycle import is_outcome
from pmc.runtime.log import fields, log_decision, logger
from pmc.runtime.preconditions import Precondition
from pmc.runtime.results import HandleResult, HandleStatus
from pmc.runtime.state import ProcessState
from pmc.runtime.stores.api import (
    NO_WORK,
    AppendOutcome,
    AppendRejected,
    AppendRequest,
    DuplicateEventId,
    NewEvent,
    ProcessStore,
    VersionConflict,
    WorkChanges,
    transient,
)
from pmc.runtime.work import work_changes

MAX_CONFLICTS = 100


class ConflictRetriesExhausted(PmcError, RuntimeError):
    """Other writers kept changing the stream faster than a decision could be stored."""

    def __init__(self, category: str, key: str, attempts: int) -> None:
        self.category = category
        self.key = key
        self.attempts = attempts
        super().__init__(
            f"stream {category}/{key}: gave up after {attempts} version conflicts in a row; "
            "too many writers on one process instance"
        )


@dataclass(frozen=True, slots=True)
class RecordRequest:
    """One ``Recorder.append`` call, to be recorded with others by ``append_many``."""

    key: str
    event: Event
    event_id: uuid.UUID
    precondition: Precondition | None = None
    checked: bool = False


class Recorder:
    """Records events of one process in its streams, deciding on each as it goes.

    Thread-safe; any number of recorders (in other processes or machines)
    may write the same streams.
    """

    def __init__(
        self,
        definition: ProcessDefinition,
        store: ProcessStore,
        sync_grace: timedelta,
        max_conflicts: int,
    ) -> None:
        self.definition = definition
        self.store = store
        self.cache = StreamCache(definition, store)
        self._sync_grace = sync_grace
        self._max_conflicts = max_conflicts

    @property
    def category(self) -> str:
        return self.definition.category

    def append(
        self,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None = None,
        *,
        checked: bool = False,
    ) -> HandleResult:
        """Record ``event`` under ``event_id`` in stream ``key`` with its decisions.

        ``precondition`` is checked on the state each try is decided on; if
        it fails, nothing is written (``STALE``). ``checked``: the caller
        has had ``check_event`` pass on ``event`` (see ``NewEvent.checked``).

        With the stream's fold cached, the event is decided on it without
        reading the store: if another writer moved the stream since, the
        append's version check says so, and the event is decided again on
        the stream read anew (see ``_on_cached``).
        """
        cached = self.cache.cached(key)
        if cached is not None:
            result = self._on_cached(key, cached, event, event_id, precondition, checked)
            if result is not None:
                return result
        for conflicts in range(self._max_conflicts + 1):
            folded = self.cache.current(key)
            verdict = self._admit(folded, event, event_id, precondition)
            if verdict is not None:
                return self._result(verdict, key, event, event_id, folded.state)
            try:
                decision = self._decide(key, folded, event, event_id, checked=checked)
                return self._record(key, folded, decision)
            except VersionConflict:
                logger.debug(
                    "%s/%s: version conflict at %d, deciding again",
                    self.category,
                    key,
                    folded.state.version,
                    extra=fields(category=self.category, key=key, version=folded.state.version),
                )
                _back_off(conflicts)
            except DuplicateEventId as duplicate:
                return self._recorded_elsewhere(duplicate, key, event, event_id, folded.state)
        raise ConflictRetriesExhausted(self.category, key, self._max_conflicts + 1)

    def _on_cached(
        self,
        key: str,
        folded: Folded,
        event: Event,
        event_id: uuid.UUID,
        precondition: Precondition | None,
        checked: bool,
    ) -> HandleResult | None:
        """The result of deciding on a cached fold, or None if only a read of the stream can tell.

        A duplicate stays one (a stream never loses an id), and an append the
        store accepts at the fold's version was decided on the stream as it
        is. Any other refusal may come of a fold another writer has moved
        past since, and a rejected append did: None, to decide again on the
        stream read, as if nothing had been cached. An id another writer
        recorded meanwhile moved the version, so the inbox stays exact.
        """
        verdict = self._admit(folded, event, event_id, precondition)
        if verdict is HandleStatus.DEDUPLICATED:
            return self._result(verdict, key, event, event_id, folded.state)
        if verdict is not None:
            return None
        try:
            decision = self._decide(key, folded, event, event_id, checked=checked)
            return self._record(key, folded, decision)
        except AppendRejected:
            return None

    def append_many(self, requests: Sequence[RecordRequest]) -> list[HandleResult]:
        """``append`` for each request, in order, with results in the same order.

        Each request keeps every guarantee of ``append`` (inbox, version
        check, one decision per event); several requests may name one stream.
        The requests for a stream are decided in a chain on its fold (cached,
        or read), each on the state the one before leaves, so one event id
        twice in a batch is recorded once; then every stream's events go to
        the store in one ``append_many``, one append per stream. A stream
        whose append the store rejects (another writer moved it) has its
        requests recorded again one by one by ``append``.

        An error deciding any request (one not for this process, say) is
        raised before anything of the batch is written.
        """
        return [_result_or_raise(outcome) for outcome in self._append_many(requests, alone=False)]

    def record_many(self, requests: Sequence[RecordRequest]) -> list[HandleResult | Exception]:
        """``append_many``, except that a request whose decision raises sinks only itself.

        Its error takes its place, nothing of it is recorded, and the later
        requests of its stream are decided as if it were not there (as
        ``append`` one at a time would, a raising ``append`` recording
        nothing); the other requests are recorded. Errors of the store
        itself are raised, also when a stream another writer moved is
        recorded again, as is ``ConflictRetriesExhausted``.
        """
        return self._append_many(requests, alone=True)

    def _append_many(
        self, requests: Sequence[RecordRequest], *, alone: bool
    ) -> list[HandleResult | Exception]:
        """The requests' results; errors deciding one: raised, or (``alone``) in its place."""
        if not requests:
            return []
        batch = self.plan(requests, alone=alone)
        return self.settle(batch, self.store.append_many(batch.appends))

    def plan(
        self, requests: Sequence[RecordRequest], *, alone: bool = False, now: datetime | None = None
    ) -> Batch:
        """The requests decided as ``append_many`` decides them, nothing written yet.

        The batch's ``appends`` are for the caller to have recorded (by
        ``store.append_many``, or in another write of its own, such as a
        worker's claim), and what became of them to be given to ``settle``.
        Deciding reads only streams without a cached fold.
        """
        now = self.store.now() if now is None else now
        streams: dict[str, list[RecordRequest]] = {}
        for request in requests:
            streams.setdefault(request.key, []).append(request)
        chains = {key: self._chain(key, requests, now) for key, requests in streams.items()}
        if not alone:
            for chain in chains.values():
                chain.raise_failure()
        writing = tuple(key for key, chain in chains.items() if chain.decisions)
        appends = tuple(chains[key].append_request(self.category, key, now) for key in writing)
        return Batch(tuple(requests), streams, chains, writing, appends, alone)

    def settle(
        self, batch: Batch, outcomes: Sequence[AppendOutcome]
    ) -> list[HandleResult | Exception]:
        """The results of ``batch``'s requests, given the outcomes of its ``appends`` in order.

        A rejected append has its requests recorded again one by one by ``append``.
        """
        recorded = dict(zip(batch.writing, outcomes, strict=True))
        settled = {
            key: iter(
                self._settle(key, batch.streams[key], chain, recorded.get(key), alone=batch.alone)
            )
            for key, chain in batch.chains.items()
        }
        return [next(settled[request.key]) for request in batch.requests]

    def _settle(
        self,
        key: str,
        requests: Sequence[RecordRequest],
        chain: _Chain,
        outcome: AppendOutcome | None,
        *,
        alone: bool,
    ) -> list[HandleResult | Exception]:
        """The results of the requests for stream ``key``, given what became of its append.

        ``outcome`` is None if the chain had nothing to record.
        """
        if isinstance(outcome, AppendRejected):
            # Another writer moved the stream (or an id lives in another
            # stream): the whole chain was decided on a wrong premise.
            return [self._append_again(key, request, alone=alone) for request in requests]
        if outcome is not None:
            self.cache.remember(key, chain.recorded())
        results = chain.results()
        for request, result in zip(requests, results, strict=True):
            if isinstance(result, HandleResult):
                log_decision(result, request.event)
        return results

    def _append_again(
        self, key: str, request: RecordRequest, *, alone: bool
    ) -> HandleResult | Exception:
        try:
            return self.append(
                key, request.event, request.event_id, request.precondition, checked=request.checked
            )
        except Exception as error:
            if not alone or not _the_deliverys(error):
                raise
            return error

    def _chain(self, key: str, requests: Sequence[RecordRequest], now: datetime) -> _Chain:
        """The requests for stream ``key`` decided in a chain on its fold.

        On a cached fold, a refusal other than a duplicate may come of a fold
        another writer has moved past (see ``_on_cached``): unless the
        chain's append checks the fold's version, the chain is decided again
        on the stream read.
        """
        cached = self.cache.cached(key)
        if cached is not None:
            chain = self._plan(key, cached, requests, now)
            if not chain.unchecked:
                return chain
        return self._plan(key, self.cache.current(key), requests, now)

    def _plan(
        self, key: str, base: Folded, requests: Sequence[RecordRequest], now: datetime
    ) -> _Chain:
        steps: list[HandleResult | _Decision | Exception] = []
        folded = base
        for request in requests:
            event, event_id = request.event, request.event_id
            try:
                verdict = self._admit(folded, event, event_id, request.precondition)
                if verdict is not None:
                    steps.append(HandleResult(verdict, self.category, key, event_id, folded.state))
                    continue
                decision = self._decide(key, folded, event, event_id, now, request.checked)
            except Exception as error:
                # The next requests are decided as if this one were not there.
                steps.append(error)
                continue
            folded = folded.with_planned(decision.result.state, decision.recorded)
            steps.append(decision)
        return _Chain(base, tuple(steps))

    def _admit(
        self,
        folded: Folded,
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

    def _outcome_already_recorded(self, folded: Folded, event: Event) -> bool:
        """An outcome of an attempt whose outcome the stream holds already (under any id).

        An attempt has one outcome: a report of it again (a handler's own
        retry logic, say) is a duplicate, not a second fact.
        """
        return is_outcome(event) and (event.task_id, event.attempt) in folded.outcomes

    def _outcome_of_a_run(self, folded: Folded, event: Event) -> bool:
        """Is ``event`` the outcome of an attempt that was started in this stream?

        Such an outcome reports work that happened, so it is recorded even
        after the process ended (as a late outcome). The attempt ran if its
        ``TaskStarted`` (whose id derives from task and attempt) is in the
        stream; an outcome of an attempt never started is not a fact.
        """
        if not is_outcome(event):
            return False
        return contract.started_id(event.task_id, event.attempt) in folded.event_ids

    def _decide(
        self,
        key: str,
        folded: Folded,
        event: Event,
        event_id: uuid.UUID,
        now: datetime | None = None,
        checked: bool = False,
    ) -> _Decision:
        """``event`` decided on ``folded``: what to append, and the result once it is."""
        before = folded.state
        now = self.store.now() if now is None else now
        # The engine folds as it decides: that state is the stream's once
        # the event and its decisions are appended (no second fold).
        decided, after = engine.decide_and_fold(
            self.definition, before, event, EventMeta(event_id, now, key)
        )
        decisions = tuple(decided)
        ids = contract.decision_ids(event_id, len(decisions))
        events = ((event_id, event), *zip(ids, decisions, strict=True))
        # Only an input event can be ignored; the runtime's own reports are
        # facts worth recording whether or not they change anything.
        ignored = not decisions and self.definition.is_input(event)
        status = HandleStatus.IGNORED if ignored else HandleStatus.RECORDED
        if is_outcome(event) and not engine.outcome_changes_state(before, event):
            status = HandleStatus.LATE
        return _Decision(
            HandleResult(status, self.category, key, event_id, after, decisions),
            events,
            _work_changes(before, after, now, self._sync_grace),
            now,
            checked,
        )

    def _record(self, key: str, folded: Folded, decision: _Decision) -> HandleResult:
        """Append ``decision`` at the version of ``folded``, the fold it was made on."""
        self.store.append(
            self.category,
            key,
            decision.new_events(),
            folded.state.version,
            decision.work,
            now=decision.now,
            instance=instance_update(
                folded.state, [(decision.events(), decision.result.state)], decision.now
            ),
        )
        self.cache.remember(key, folded.with_events(decision.result.state, decision.recorded))
        log_decision(decision.result, decision.event)
        return decision.result

    def _recorded_elsewhere(
        self,
        duplicate: DuplicateEventId,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        state: ProcessState,
    ) -> HandleResult:
        # The inbox found no such id in this stream as read, so it lives in
        # another one. ``handle`` derives stored ids from the stream, so only
        # a caller of ``record`` reusing an id elsewhere gets here.
        logger.warning(
            "%s/%s: event id %s is already recorded in another stream",
            self.category,
            key,
            event_id,
            extra=fields(category=self.category, key=key, event_id=str(event_id)),
        )
        if event_id not in duplicate.event_ids:
            raise duplicate
        return self._result(HandleStatus.DEDUPLICATED, key, event, event_id, state)

    def _result(
        self,
        status: HandleStatus,
        key: str,
        event: Event,
        event_id: uuid.UUID,
        state: ProcessState,
    ) -> HandleResult:
        result = HandleResult(status, self.category, key, event_id, state)
        log_decision(result, event)
        return result


@dataclass(frozen=True, slots=True)
class Batch:
    """Requests decided by ``Recorder.plan``: the appends to record, then ``Recorder.settle``."""

    requests: tuple[RecordRequest, ...]
    streams: dict[str, list[RecordRequest]]  # the requests of each stream, in order
    chains: dict[str, _Chain]
    writing: tuple[str, ...]  # the streams with something to append, in ``appends``' order
    appends: tuple[AppendRequest, ...]
    alone: bool  # an error deciding a request takes its place (``record_many``)


@dataclass(frozen=True, slots=True)
class _Decision:
    """An event decided on a fold: the events to append (id, event), the index
    changes, and the result once they are recorded."""

    result: HandleResult
    recorded: tuple[tuple[uuid.UUID, Event], ...]
    work: WorkChanges
    now: datetime
    checked: bool  # the event decided on passed ``check_event`` before (``NewEvent.checked``)

    @property
    def event(self) -> Event:
        """The event decided on (the decisions follow it)."""
        return self.recorded[0][1]

    def events(self) -> list[Event]:
        """The event decided on and its decisions."""
        return [event for _, event in self.recorded]

    def new_events(self) -> list[NewEvent]:
        # The decisions are the process's own: unchecked, as they may hold any text.
        (event_id, event), *decisions = self.recorded
        # Recorded with the current span's trace context, if telemetry is on: an
        # attempt of a task they plan links to it.
        trace = telemetry.installed().carrier()
        return [
            NewEvent(event, event_id, checked=self.checked, trace=trace),
            *(NewEvent(decided, decided_id, trace=trace) for decided_id, decided in decisions),
        ]


@dataclass(frozen=True, slots=True)
class _Chain:
    """The requests of a batch for one stream, decided each on the state the one before left.

    A step is a refusal (the result), a decision to record, or the error
    deciding raised.
    """

    base: Folded
    steps: tuple[HandleResult | _Decision | Exception, ...]

    @property
    def decisions(self) -> list[_Decision]:
        return [step for step in self.steps if isinstance(step, _Decision)]

    @property
    def unchecked(self) -> bool:
        """Does a refusal rest on the fold alone, with nothing to append?

        A duplicate stays one whatever else the stream holds now; any other
        refusal holds if the fold was current, which the version check of the
        chain's append proves (if it fails, every request is decided again).
        """
        return not self.decisions and any(
            not isinstance(step, HandleResult) or step.status is not HandleStatus.DEDUPLICATED
            for step in self.steps
        )

    def raise_failure(self) -> None:
        """Raise the first error deciding a request raised, if any did."""
        for step in self.steps:
            if isinstance(step, Exception):
                raise step

    def append_request(self, category: str, key: str, now: datetime) -> AppendRequest:
        """One append of every decision, at the version the chain started from."""
        decisions = self.decisions
        work = NO_WORK
        for decision in decisions:
            work = _then(work, decision.work)
        events = tuple(new for decision in decisions for new in decision.new_events())
        before = self.base.state
        # Each decision's events with the state they leave: each is judged on its own.
        decided = [(decision.events(), decision.result.state) for decision in decisions]
        instance = instance_update(before, decided, now)
        return AppendRequest(category, key, events, before.version, work, now, instance)

    def recorded(self) -> Folded:
        """The base fold with every decision recorded."""
        decisions = self.decisions
        events = [pair for decision in decisions for pair in decision.recorded]
        return self.base.with_events(decisions[-1].result.state, events)

    def results(self) -> list[HandleResult | Exception]:
        return [step.result if isinstance(step, _Decision) else step for step in self.steps]


def _work_changes(
    before: ProcessState, after: ProcessState, now: datetime, sync_grace: timedelta
) -> WorkChanges:
    """``work_changes``; none when the fold kept the same tasks and timers (the
    very same maps: a fold copies only what changes) and the process runs on."""
    if after.tasks is before.tasks and after.timers is before.timers and not after.ended:
        return NO_WORK
    return work_changes(before, after, now, sync_grace)


def _result_or_raise(outcome: HandleResult | Exception) -> HandleResult:
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _then(first: WorkChanges, second: WorkChanges) -> WorkChanges:
    """The index changes of ``first`` then ``second``, as one: the later change of a row wins."""
    changed = {row.work_id for row in second.upsert} | set(second.delete)
    return WorkChanges(
        upsert=tuple(row for row in first.upsert if row.work_id not in changed) + second.upsert,
        delete=tuple(work_id for work_id in first.delete if work_id not in changed) + second.delete,
    )


def _back_off(conflicts: int) -> None:
    # A little random sleep, growing with the losses, spreads the retries of
    # writers that keep colliding on one stream.
    time.sleep(random.uniform(0, min(0.001 * 2**conflicts, 0.05)))


def _the_deliverys(error: Exception) -> bool:
    """Whether ``error``, recording a delivery again, is the delivery's own: its
    decision, its event or its id (as the first try files it), not the store
    failing or other writers outpacing it, which a retry of the batch may pass."""
    own = isinstance(error, PmcError | TypeError | ValueError)
    return own and not isinstance(error, ConflictRetriesExhausted) and not transient(error)
