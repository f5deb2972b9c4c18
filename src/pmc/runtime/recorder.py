"""The decide/append loop: one event recorded with its decisions, or nothing.

Each event is recorded with the events decided on it in ONE append at the
version the decision was made on, together with the pending-work index
changes that follow from it. If another writer got there first, the stream
is read again and the decision made again on the new state; the store checks
versions on every backend, so a lost race is always detected, never merged.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime import contract, engine
from pmc.runtime.cache import Folded, StreamCache
from pmc.runtime.definition import EventMeta, ProcessDefinition
from pmc.runtime.lifecycle import is_outcome
from pmc.runtime.log import fields, log_decision, logger
from pmc.runtime.preconditions import Precondition
from pmc.runtime.results import HandleResult, HandleStatus
from pmc.runtime.state import ProcessState
from pmc.runtime.stores.api import DuplicateEventId, NewEvent, ProcessStore, VersionConflict
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
    ) -> HandleResult:
        """Record ``event`` under ``event_id`` in stream ``key`` with its decisions.

        ``precondition`` is checked on the state each try is decided on; if
        it fails, nothing is written (``STALE``).
        """
        for conflicts in range(self._max_conflicts + 1):
            folded = self.cache.current(key)
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
        raise ConflictRetriesExhausted(self.category, key, self._max_conflicts + 1)

    def append_many(self, requests: Sequence[RecordRequest]) -> list[HandleResult]:
        """``append`` for each request, in order, with results in the same order.

        Each request keeps every guarantee of ``append`` (inbox, version
        check, one decision per event); several requests may name one stream.
        """
        return [
            self.append(request.key, request.event, request.event_id, request.precondition)
            for request in requests
        ]

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

    def _decide_and_append(
        self, key: str, folded: Folded, event: Event, event_id: uuid.UUID
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
        work = work_changes(before, after, now, self._sync_grace)
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
        self.cache.remember(
            key, folded.with_events(after, [(new.event_id, new.event) for new in new_events])
        )
        # Only an input event can be ignored; the runtime's own reports are
        # facts worth recording whether or not they change anything.
        ignored = not decisions and self.definition.is_input(event)
        status = HandleStatus.IGNORED if ignored else HandleStatus.RECORDED
        if is_outcome(event) and not engine.outcome_changes_state(before, event):
            status = HandleStatus.LATE
        result = HandleResult(status, self.category, key, event_id, after, tuple(decisions))
        log_decision(result, event)
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
        log_decision(result, event)
        return result


def _back_off(conflicts: int) -> None:
    # A little random sleep, growing with the losses, spreads the retries of
    # writers that keep colliding on one stream.
    time.sleep(random.uniform(0, min(0.001 * 2**conflicts, 0.05)))
