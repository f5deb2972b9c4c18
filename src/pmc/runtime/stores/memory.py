"""``memory://``: event-sourcery's in-memory backend behind one lock, for tests.

The in-memory backend is not thread-safe and never detects a concurrent
write, so every operation holds the store's lock and the version, id and
work checks happen here, before the backend is touched.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from event_sourcery import Event, StreamId
from event_sourcery.backend import InMemoryBackend
from event_sourcery.event import WrappedEvent
from event_sourcery.interfaces import StorageStrategy

from pmc.runtime.instances import InstanceQuery, InstanceRow, InstanceUpdate, updated_row
from pmc.runtime.stores._events import recorded, stored, wrap
from pmc.runtime.stores._signal import WorkSignal
from pmc.runtime.stores.api import (
    NO_WORK,
    AppendOutcome,
    AppendRejected,
    AppendRequest,
    Categories,
    ClaimAppends,
    Claimed,
    Clock,
    DuplicateEventId,
    NewEvent,
    PendingWork,
    ReadAfter,
    RecordedEvent,
    StoredEvent,
    VersionConflict,
    WorkChanges,
    WorkItem,
    append_alone,
    categories_of,
    check_append,
    check_category,
    check_claim,
    check_stream,
    no_appends,
    require_aware,
    utc_now,
    with_tails,
)

_StreamKey = tuple[str, str]
_WorkKey = tuple[str, str, str]


class MemoryStore:
    """A process store living in this process only; ``memory://``."""

    def __init__(self, clock: Clock | None = None) -> None:
        """``clock`` replaces the local clock (for tests)."""
        self._clock = clock or utc_now
        self._lock = threading.RLock()
        backend = InMemoryBackend().configure()
        self._events = backend.event_store
        self._raw_events = backend[StorageStrategy]
        self._versions: dict[_StreamKey, int] = {}
        self._event_ids: set[UUID] = set()
        self._work: dict[_WorkKey, WorkItem] = {}
        # The instance index, its rows without ``next_due`` (read from ``_work``).
        self._instances: dict[_StreamKey, InstanceRow] = {}
        self._signal = WorkSignal()

    def init(self) -> None:
        """Nothing to create in memory."""

    def close(self) -> None:
        """Nothing to release in memory."""

    def now(self) -> datetime:
        return self._clock()

    def load(self, category: str, key: str, after_version: int = 0) -> list[StoredEvent]:
        check_stream(category, key)
        stream_id = StreamId(name=key, category=category)
        with self._lock:
            # The backend copies the whole stream on every read; skip it when
            # the caller already has everything.
            if self._versions.get((category, key), 0) <= after_version:
                return []
            wrapped = self._events.load_stream(stream_id, start=after_version + 1)
        return [stored(event) for event in wrapped]

    def load_recorded(self, category: str, key: str) -> list[RecordedEvent]:
        check_stream(category, key)
        with self._lock:
            raw = self._raw_events.fetch_events(StreamId(name=key, category=category))
        return [recorded(event) for event in raw]

    def version(self, category: str, key: str) -> int:
        check_stream(category, key)
        with self._lock:
            return self._versions.get((category, key), 0)

    def append(
        self,
        category: str,
        key: str,
        events: Sequence[NewEvent],
        expected_version: int,
        work: WorkChanges = NO_WORK,
        now: datetime | None = None,
        instance: InstanceUpdate | None = None,
    ) -> list[StoredEvent]:
        request = AppendRequest(category, key, tuple(events), expected_version, work, now, instance)
        return append_alone(self, request)

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        with self._lock:
            return self._append_locked(requests)

    def _append_locked(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        """``append_many`` with the lock held."""
        # Every request is checked before anything is written, as in SQL.
        for request in requests:
            check_stream(request.category, request.key)
            check_append(request.events, request.expected_version, request.work, request.instance)
        wrapped = [
            wrap(request.events, request.expected_version, request.now or self.now())
            for request in requests
        ]
        outcomes = [
            self._record(request, events) for request, events in zip(requests, wrapped, strict=True)
        ]
        if any(
            r.work and not isinstance(o, AppendRejected)
            for r, o in zip(requests, outcomes, strict=True)
        ):
            self._signal.notify()
        return outcomes

    def _record(self, request: AppendRequest, wrapped: list[WrappedEvent[Event]]) -> AppendOutcome:
        """One append, under the lock: checked here, as the backend checks nothing."""
        category, key, expected_version = request.category, request.key, request.expected_version
        actual = self._versions.get((category, key), 0)
        if actual != expected_version:
            return VersionConflict(category, key, expected_version, actual)
        duplicates = [new.event_id for new in request.events if new.event_id in self._event_ids]
        if duplicates:
            return DuplicateEventId(duplicates)
        if wrapped:
            self._events.append(
                *wrapped,
                stream_id=StreamId(name=key, category=category),
                expected_version=expected_version,
            )
            self._versions[(category, key)] = expected_version + len(wrapped)
            self._event_ids.update(new.event_id for new in request.events)
        self._apply_work(category, key, request.work)
        if request.instance is not None:
            self._apply_instance(category, key, request.instance)
        return [stored(event) for event in wrapped]

    def _apply_instance(self, category: str, key: str, update: InstanceUpdate) -> None:
        current = self._instances.get((category, key))
        if update.whole or current is not None:
            self._instances[(category, key)] = updated_row(category, key, current, update)

    def _apply_work(self, category: str, key: str, work: WorkChanges) -> None:
        for work_id in work.delete:
            self._work.pop((category, key, work_id), None)
        for row in work.upsert:
            self._work[(category, key, row.work_id)] = WorkItem(
                category=category,
                key=key,
                work_id=row.work_id,
                kind=row.kind,
                due_at=row.due_at,
                payload=dict(row.payload),
                claimed_by=None,
                lease_until=None,
            )

    def stream_keys(self, category: str) -> list[str]:
        check_category(category)
        with self._lock:
            return sorted(key for cat, key in self._versions if cat == category)

    def instances(self, category: str, query: InstanceQuery) -> list[InstanceRow]:
        check_category(category)
        now = self.now()
        with self._lock:
            # One pass over the work for every row's next_due, not one per row.
            due = self._next_dues(category)
            rows = sorted(
                (
                    replace(row, next_due=due.get(key))
                    for (cat, key), row in self._instances.items()
                    if cat == category
                ),
                key=lambda row: row.key,
            )
        after = query.after
        chosen = (
            row for row in rows if (after is None or row.key > after) and query.matches(row, now)
        )
        return list(itertools.islice(chosen, query.limit))

    def instance(self, category: str, key: str) -> InstanceRow | None:
        check_stream(category, key)
        with self._lock:
            row = self._instances.get((category, key))
            return None if row is None else self._read_row(row)

    def next_due(self, category: str, key: str) -> datetime | None:
        check_stream(category, key)
        with self._lock:
            return self._next_due(category, key)

    def _read_row(self, row: InstanceRow) -> InstanceRow:
        """``row`` with its ``next_due``, under the lock."""
        return replace(row, next_due=self._next_due(row.category, row.key))

    def _next_due(self, category: str, key: str) -> datetime | None:
        """Under the lock."""
        times = [
            claimable_at(item)
            for (cat, stream, _), item in self._work.items()
            if cat == category and stream == key
        ]
        return min(times, default=None)

    def _next_dues(self, category: str) -> dict[str, datetime]:
        """Under the lock: the ``_next_due`` of each stream of ``category`` with work."""
        due: dict[str, datetime] = {}
        for (cat, stream, _), item in self._work.items():
            if cat == category:
                at = claimable_at(item)
                due[stream] = min(at, due.get(stream, at))
        return due

    def claim_due(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        category: Categories = None,
        read_after: ReadAfter | None = None,
    ) -> list[WorkItem]:
        return self.claim_and_append(
            now, worker_id, limit, lease_seconds, no_appends, category, read_after
        ).items

    def claim_and_append(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        appends: ClaimAppends,
        category: Categories = None,
        read_after: ReadAfter | None = None,
    ) -> Claimed:
        require_aware("now", now)
        check_claim(limit, lease_seconds)
        lease_until = now + timedelta(seconds=lease_seconds)
        # One lock for all of it, as the SQL stores' one transaction.
        with self._lock:
            due = sorted(
                (item for item in self._work.values() if is_claimable(item, now, category)),
                key=lambda item: (item.due_at, item.category, item.key, item.work_id),
            )[:limit]
            claimed = [replace(item, claimed_by=worker_id, lease_until=lease_until) for item in due]
            items = with_tails(self, claimed, read_after)
            requests = appends(items)
            self._put(claimed)
            try:
                appended = self._append_locked(requests)
            except BaseException:
                # Refused before anything was appended: the claim is undone too.
                self._put(due)
                raise
        return Claimed(items, appended)

    def _put(self, items: Sequence[WorkItem]) -> None:
        for item in items:
            self._work[(item.category, item.key, item.work_id)] = item

    def release(self, item: WorkItem) -> bool:
        work_key = (item.category, item.key, item.work_id)
        with self._lock:
            current = self._work.get(work_key)
            if current is None or item.claimed_by is None:
                return False
            if current.claimed_by != item.claimed_by:
                return False
            self._work[work_key] = replace(current, claimed_by=None, lease_until=None)
        self._signal.notify()
        return True

    def has_due(self, now: datetime, category: Categories = None) -> bool:
        require_aware("now", now)
        with self._lock:
            return any(is_claimable(item, now, category) for item in self._work.values())

    def pending_work(self, now: datetime, category: str) -> PendingWork:
        require_aware("now", now)
        with self._lock:
            mine = [item for item in self._work.values() if item.category == category]
        due = sum(1 for item in mine if claimable_at(item) <= now)
        return PendingWork(due=due, later=len(mine) - due)

    def wait_for_due(self, timeout: float, category: Categories = None) -> bool:
        return self._signal.wait_for_due(
            lambda now: self._due_in(now, category), timeout, self.now, key=category
        )

    def _due_in(self, now: datetime, category: Categories) -> float | None:
        """Seconds until a row (of ``category``) is claimable; None if there is none."""
        chosen = categories_of(category)
        with self._lock:
            times = [
                claimable_at(item)
                for item in self._work.values()
                if chosen is None or item.category in chosen
            ]
        return None if not times else (min(times) - now).total_seconds()


def is_claimable(item: WorkItem, now: datetime, category: Categories = None) -> bool:
    chosen = categories_of(category)
    if item.due_at > now or (chosen is not None and item.category not in chosen):
        return False
    return item.claimed_by is None or (item.lease_until is not None and item.lease_until <= now)


def claimable_at(item: WorkItem) -> datetime:
    """When ``item`` can be claimed: when due, or when its claim expires if later."""
    if item.claimed_by is None or item.lease_until is None:
        return item.due_at
    return max(item.due_at, item.lease_until)
