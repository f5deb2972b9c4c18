"""The folded state of each stream, cached with the ids of the events in it.

Handling an event then decides on the cached fold without reading the store
(the append's version check finds out if another writer moved the stream),
and an event id already in the stream is recognised without a query.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Container, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from event_sourcery import Event

from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.lifecycle import TransitionPlannedBase, is_outcome
from pmc.runtime.state import ProcessState
from pmc.runtime.stores.api import ProcessStore, StoredEvent, Tail

CACHED_STREAMS = 10_000

Item = TypeVar("Item", bound=Hashable)
Attempt = tuple[uuid.UUID, int]  # (task id, attempt)


class StreamLog:
    """The event ids and attempt outcomes of one stream, with the version each was recorded at.

    Shared by the folds of the stream built from one another, and only ever
    added to, so recording an event costs the same at any stream length (a
    fold copying its ids on every append would cost in proportion to them).
    A fold at version v sees the entries at or below v: entries that threads
    holding newer folds add stay out of its view.

    Only facts enter: events read from the store, or that the store has just
    recorded. An id has one version in a stream, and an attempt's first
    outcome one version, so threads adding the same fact agree; ``setdefault``
    never changes an entry, and a single dict operation needs no lock.
    """

    __slots__ = ("_ids", "_outcomes", "_plans")

    def __init__(self) -> None:
        self._ids: dict[uuid.UUID, int] = {}
        self._outcomes: dict[Attempt, int] = {}
        # The version of the TransitionPlanned of each task: where telemetry
        # reads the trace context a task was planned in (a tail read).
        self._plans: dict[uuid.UUID, int] = {}

    def add(self, first_version: int, events: Sequence[tuple[uuid.UUID, Event]]) -> None:
        """Enter ``events`` (id, event), recorded at ``first_version`` and the versions after."""
        for version, (event_id, event) in enumerate(events, start=first_version):
            self._ids.setdefault(event_id, version)
            if is_outcome(event):
                self._outcomes.setdefault((event.task_id, event.attempt), version)
            elif isinstance(event, TransitionPlannedBase) and event.task_id is not None:
                self._plans.setdefault(event.task_id, version)

    def planned_at(self, task_id: uuid.UUID) -> int | None:
        """The version of the event that planned task ``task_id``, if it was entered."""
        return self._plans.get(task_id)

    def ids(self, version: int, planned: frozenset[uuid.UUID]) -> Container[uuid.UUID]:
        """The ids recorded at or below ``version``, with ``planned``."""
        return _UpTo(self._ids, version, planned)

    def outcomes(self, version: int, planned: frozenset[Attempt]) -> Container[Attempt]:
        """The attempts with an outcome recorded at or below ``version``, with ``planned``."""
        return _UpTo(self._outcomes, version, planned)


@dataclass(frozen=True, slots=True)
class _UpTo(Container[Item], Generic[Item]):
    """The items of a log recorded at or below ``version``, and those ``planned``."""

    recorded_at: dict[Item, int]
    version: int
    planned: frozenset[Item]

    def __contains__(self, item: object) -> bool:
        if item in self.planned:
            return True
        version = self.recorded_at.get(cast(Item, item))
        return version is not None and version <= self.version


@dataclass(frozen=True, slots=True)
class Folded:
    """A stream folded up to ``state.version``, with what deduplicating needs.

    ``log`` holds the stream's ids up to ``logged``, the version the fold was
    last read or recorded at. ``Recorder.append_many`` decides the requests of
    a batch for one stream in a chain, each on the fold the one before left:
    the events decided on but not recorded yet are ``planned``, beyond it.
    """

    state: ProcessState
    log: StreamLog = field(default_factory=StreamLog)
    logged: int = 0
    planned_ids: frozenset[uuid.UUID] = frozenset()
    planned_outcomes: frozenset[Attempt] = frozenset()

    @property
    def event_ids(self) -> Container[uuid.UUID]:
        """The ids of the events in the stream (the planned ones too)."""
        return self.log.ids(self.logged, self.planned_ids)

    @property
    def outcomes(self) -> Container[Attempt]:
        """(task id, attempt) of every TaskCompleted / TaskFailed in the stream, whatever its id.

        An attempt has one outcome.
        """
        return self.log.outcomes(self.logged, self.planned_outcomes)

    @property
    def planned(self) -> bool:
        return self.state.version != self.logged

    def with_events(self, state: ProcessState, events: Sequence[tuple[uuid.UUID, Event]]) -> Folded:
        """This fold with ``events`` (id, event), just recorded after it, ending in ``state``."""
        if self.planned:
            raise ValueError("a fold with planned events is not recorded as it is")
        self.log.add(self.logged + 1, events)
        return Folded(state, self.log, state.version)

    def with_planned(
        self, state: ProcessState, events: Sequence[tuple[uuid.UUID, Event]]
    ) -> Folded:
        """This fold with ``events`` (id, event) decided on, not recorded, ending in ``state``."""
        outcomes = {(event.task_id, event.attempt) for _, event in events if is_outcome(event)}
        return Folded(
            state,
            self.log,
            self.logged,
            self.planned_ids | {event_id for event_id, _ in events},
            self.planned_outcomes | outcomes,
        )


class StreamCache:
    """The folds of the streams of one process, the most recently used ``CACHED_STREAMS``.

    Thread-safe. Other writers may append to the streams at any time: a
    fold is a starting point brought up to date by ``current``, or checked by
    the version of an append made on it, never the truth on its own.
    """

    def __init__(self, definition: ProcessDefinition, store: ProcessStore) -> None:
        self._definition = definition
        self._store = store
        self._folds: OrderedDict[str, Folded] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, key: str) -> Folded:
        """The cached fold of stream ``key`` brought up to date with its new events."""
        folded = self.cached(key) or Folded(self._definition.initial_state())
        tail = self._store.load(self._definition.category, key, after_version=folded.state.version)
        return self._advanced(key, folded, tail)

    def known_version(self, key: str) -> int:
        """The version of the cached fold of ``key`` (0 if none): read the stream after it."""
        folded = self.cached(key)
        return 0 if folded is None else folded.state.version

    def advance(self, key: str, tail: Tail) -> Folded:
        """Like ``current``, with ``tail`` read by someone else (a worker's claim).

        If the cached fold is no longer where ``tail`` starts (another
        thread moved it, or it was dropped), the stream is read instead.
        """
        folded = self.cached(key) or Folded(self._definition.initial_state())
        if folded.state.version != tail.after_version:
            return self.current(key)
        return self._advanced(key, folded, tail.events)

    def _advanced(self, key: str, folded: Folded, tail: Sequence[StoredEvent]) -> Folded:
        if not tail:
            return folded
        state = folded.state
        for stored in tail:
            state = self._definition.evolve(state, stored.event)
        updated = folded.with_events(state, [(stored.event_id, stored.event) for stored in tail])
        self.remember(key, updated)
        return updated

    def cached(self, key: str) -> Folded | None:
        """The fold of stream ``key`` as last seen, without reading the store."""
        with self._lock:
            return self._folds.get(key)

    def remember(self, key: str, folded: Folded) -> None:
        with self._lock:
            cached = self._folds.get(key)
            # Threads race to store what they read: keep the newest.
            if cached is None or cached.state.version < folded.state.version:
                self._folds[key] = folded
            self._folds.move_to_end(key)
            while len(self._folds) > CACHED_STREAMS:
                self._folds.popitem(last=False)
