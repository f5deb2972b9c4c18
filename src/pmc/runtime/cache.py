"""The folded state of each stream, cached with the ids of the events in it.

Handling an event then reads only the events recorded since (usually none),
and an event id already in the stream is recognised without a query.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from event_sourcery import Event

from pmc.runtime.definition import ProcessDefinition
from pmc.runtime.lifecycle import is_outcome
from pmc.runtime.state import ProcessState
from pmc.runtime.stores.api import ProcessStore

CACHED_STREAMS = 10_000


@dataclass(frozen=True, slots=True)
class Folded:
    """A stream folded up to ``state.version``, with what deduplicating needs."""

    state: ProcessState
    event_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    # (task id, attempt) of every TaskCompleted / TaskFailed in the stream,
    # whatever its event id: an attempt has one outcome.
    outcomes: frozenset[tuple[uuid.UUID, int]] = field(default_factory=frozenset)

    def with_events(self, state: ProcessState, events: Sequence[tuple[uuid.UUID, Event]]) -> Folded:
        """This fold with ``events`` (id, event) appended, ending in ``state``."""
        outcomes = {(event.task_id, event.attempt) for _, event in events if is_outcome(event)}
        return Folded(
            state,
            self.event_ids | {event_id for event_id, _ in events},
            self.outcomes | outcomes if outcomes else self.outcomes,
        )


class StreamCache:
    """The folds of the streams of one process, the most recently used ``CACHED_STREAMS``.

    Thread-safe. Other writers may append to the streams at any time: a
    fold is a starting point brought up to date by ``current``, never the
    truth on its own.
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
