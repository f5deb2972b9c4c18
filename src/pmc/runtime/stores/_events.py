"""Between our event types and event-sourcery's ``WrappedEvent`` and ``RawEvent``.

The SQL store writes and reads event-sourcery's tables itself, so the rows
must be exactly what event-sourcery writes and reads: events pass through
its own ``Serde`` (event registry, payload and context format) both ways.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, cast

from event_sourcery import DEFAULT_TENANT, Event, StreamId
from event_sourcery.encryption import Encryption, NoEncryptionStrategy, NoKeyStorageStrategy
from event_sourcery.event import Context, EventRegistry, RawEvent, Serde, WrappedEvent
from pydantic import BaseModel

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
            event=new.event,
            version=expected_version + i,
            uuid=new.event_id,
            created_at=created_at,
            context=Context() if new.trace is None else Context(components=_traced(new.trace)),
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
        trace=_trace_in(wrapped.context.components),
    )


# The component of an event's context that holds a trace context: event-sourcery's
# own (``event_sourcery_otel.OpenTelemetryCarrier``, ``{"values": carrier}``), so
# that its helpers (``get_parent_context``) read what pmc records, and pmc theirs.
TRACE_COMPONENT = "opentelemetry"


def _traced(trace: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The context components that hold ``trace``."""
    return {TRACE_COMPONENT: {"values": dict(trace)}}


def _components(context: object) -> object:
    """The components of a stored context (a row another writer made may have none)."""
    return context.get("components") if isinstance(context, Mapping) else None


def _trace_in(components: object) -> Mapping[str, str] | None:
    """The trace context held by an event's context components, if any (as text only)."""
    if not components or not isinstance(components, Mapping):
        return None  # most events: no components at all
    carrier = components.get(TRACE_COMPONENT)
    values = carrier.get("values") if isinstance(carrier, Mapping) else None
    if not isinstance(values, Mapping):
        return None
    trace = {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}
    return trace or None


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


class SharedEventRegistry(EventRegistry):
    """event-sourcery's event registry, safe to share between threads.

    Building a registry walks every ``Event`` subclass the process has
    defined (``get_type_hints`` on each): a serde per thread made the first
    write of every new thread pay that walk, inside its transaction, and a
    process holding thousands of event classes (a test run; a service
    importing many modules) then held a SQLite write lock for half a second
    and let leases expire. One registry serves the whole process instead.

    Its lookups of a known class or name are reads of dicts of its own,
    filled only once event-sourcery's registration of the class is complete,
    so a reader never sees it half registered. A miss (a class defined after
    the registry was built) registers under a lock: event-sourcery's
    check-then-add is not atomic.
    """

    def __init__(self) -> None:
        self._registering = threading.RLock()
        self._names: dict[type[BaseModel], str] = {}
        self._types: dict[str, type[BaseModel]] = {}
        with self._registering:
            super().__init__()

    def add(self, event: type[BaseModel]) -> type[BaseModel]:
        with self._registering:
            return super().add(event)

    def name_for_type(self, event: type[BaseModel]) -> str:
        name = self._names.get(event)
        if name is None:
            with self._registering:
                name = super().name_for_type(event)
            self._names[event] = name
        return name

    def type_for_name(self, name: str) -> type[BaseModel]:
        event = self._types.get(name)
        if event is None:
            with self._registering:
                event = super().type_for_name(name)
            self._types[name] = event
        return event


def new_serde() -> Serde:
    """event-sourcery's serde as its backends build it by default (no encryption).

    Its registry is a ``SharedEventRegistry``: one serde serves every thread.
    """
    registry = SharedEventRegistry()
    return Serde(registry, Encryption(registry, NoEncryptionStrategy(), NoKeyStorageStrategy()))


# Every store of the process serialises through this one (see SharedEventRegistry).
SHARED_SERDE = new_serde()


@lru_cache(maxsize=4096)
def stream_id(category: str, key: str) -> StreamId:
    """event-sourcery's id of our stream: named by the key, in the category.

    Remembered (it is immutable): building one hashes the name twice, which
    costs as much as a statement on SQLite.
    """
    return StreamId(name=key, category=category)


def event_rows(
    serde: Serde, stream: StreamId, events: Sequence[NewEvent], expected_version: int, now: datetime
) -> list[dict[str, Any]]:
    """The columns event-sourcery's SQLAlchemy backend writes for ``events``, but the stream's.

    What ``serde.serialize`` makes of the events wrapped (``wrap``) with our
    ids and versions: name and payload from the serde's registry and
    encryption; the context, event-sourcery's default for every event (pmc
    sets none), serialised once instead of once per event (it cost more
    than the payload).
    """
    created_at = to_naive_utc(now)
    return [
        {
            "uuid": new.event_id,
            "version": version,
            "name": serde.registry.name_for_type(type(new.event)),
            "data": serde.encryption.encrypt(new.event, stream),
            "event_context": _DEFAULT_CONTEXT if new.trace is None else _traced_context(new.trace),
            "created_at": created_at,
        }
        for version, new in enumerate(events, start=expected_version + 1)
    ]


def stored_row(new: NewEvent, row: Mapping[str, Any]) -> StoredEvent:
    """The event of ``row`` (of ``event_rows``) as recorded."""
    return StoredEvent(
        event=new.event,
        version=row["version"],
        event_id=new.event_id,
        created_at=from_naive_utc(row["created_at"]),
        trace=new.trace,
    )


# How event-sourcery's serde stores the context ``WrappedEvent`` defaults to:
# one read-only mapping shared by every row, and its JSON, encoded once.
_DEFAULT_CONTEXT = MappingProxyType(SHARED_SERDE._serialize_context(Context()))
_DEFAULT_CONTEXT_JSON = json.dumps(dict(_DEFAULT_CONTEXT))


def _traced_context(trace: Mapping[str, str]) -> dict[str, Any]:
    """How event-sourcery's serde stores a context holding ``trace``."""
    return {**_DEFAULT_CONTEXT, "components": _traced(trace)}


def context_json(context: Mapping[str, Any]) -> str:
    """The stored text (``json.dumps``) of an event's context; the default one's is known."""
    if context is _DEFAULT_CONTEXT:
        return _DEFAULT_CONTEXT_JSON
    return json.dumps(dict(context))


def outbox_data(stream: StreamId, row: Mapping[str, Any]) -> dict[str, Any]:
    """What event-sourcery's outbox keeps of an event (as its ``put_into_outbox`` writes it)."""
    return {
        "uuid": str(row["uuid"]),
        "created_at": row["created_at"].isoformat(),
        "name": row["name"],
        "data": row["data"],
        "context": dict(row["event_context"]),
        "version": row["version"],
        "stream_id": str(stream),
        "tenant_id": str(DEFAULT_TENANT),
    }


def stored_from_row(serde: Serde, stream: StreamId, row: Mapping[str, Any]) -> StoredEvent:
    """A row of event-sourcery's events table as recorded: what ``serde.deserialize`` reads of it.

    The event is built as event-sourcery builds it (class by name from the
    serde's registry, payload through its encryption, validated), without
    the ``WrappedEvent`` around it, which pmc does not keep: making one
    deep-copies the row (``dataclasses.asdict``) and restores its context,
    several times the cost of the event itself, on every event a worker's
    claim or a reload reads.
    """
    if row["version"] is None:  # only streams created without versioning lack one
        raise ValueError(f"event {row['uuid']} has no version")
    return StoredEvent(
        event=_built(serde, stream, row["name"], row["data"]),
        version=row["version"],
        event_id=row["uuid"],
        created_at=from_naive_utc(row["created_at"]),
        trace=_trace_in(_components(row["event_context"])),
    )


def event_of(category: str, key: str, recorded: RecordedEvent) -> Event:
    """The event ``recorded`` holds, built as a store's ``load`` builds it.

    For a caller that needs the events as stored and as classes both, in
    one read of the stream (``load_recorded``) instead of two.
    """
    return _built(SHARED_SERDE, stream_id(category, key), recorded.name, recorded.payload)


def _built(serde: Serde, stream: StreamId, name: str, payload: Mapping[str, Any]) -> Event:
    """The event named ``name``: class from the serde's registry, payload through its encryption."""
    event_type = serde.registry.type_for_name(name)
    data = serde.encryption.decrypt(event_type, dict(payload), stream)
    return cast(Event, event_type(**data))  # the registry holds Event classes


def raw_event(stream: StreamId, row: Mapping[Any, Any]) -> RawEvent:
    """A row of event-sourcery's events table, as its SQLAlchemy backend reads it."""
    return RawEvent(
        uuid=row["uuid"],
        stream_id=stream,
        created_at=row["created_at"],
        version=row["version"],
        name=row["name"],
        data=row["data"],
        context=row["event_context"],
    )
