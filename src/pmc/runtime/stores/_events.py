"""Between our event types and event-sourcery's ``WrappedEvent``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from event_sourcery import Event
from event_sourcery.event import RawEvent, WrappedEvent

from pmc.runtime.stores.api import (
    NewEvent,
    RecordedEvent,
    StoredEvent,
    from_naive_utc,
    to_naive_utc,
)


def wrap(
    events: Sequence[NewEvent], expected_version: int, now: datetime
) -> list[WrappedEvent[Event]]:
    """event-sourcery's wrapper with our ids and versions; it stores naive UTC."""
    created_at = to_naive_utc(now)
    return [
        WrappedEvent(
            event=new.event, version=expected_version + i, uuid=new.event_id, created_at=created_at
        )
        for i, new in enumerate(events, start=1)
    ]


def stored(wrapped: WrappedEvent[Event]) -> StoredEvent:
    if wrapped.version is None:  # only streams created without versioning lack one
        raise ValueError(f"event {wrapped.uuid} has no version")
    return StoredEvent(
        event=wrapped.event,
        version=wrapped.version,
        event_id=wrapped.uuid,
        created_at=from_naive_utc(wrapped.created_at),
    )


def recorded(raw: RawEvent) -> RecordedEvent:
    if raw.version is None:
        raise ValueError(f"event {raw.uuid} has no version")
    return RecordedEvent(
        version=raw.version,
        event_id=raw.uuid,
        created_at=from_naive_utc(raw.created_at),
        name=raw.name,
        payload=dict(raw.data),
    )
