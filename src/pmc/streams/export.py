"""Recorded streams as JSON lines: the exchange format of ``pmc export`` and ``pmc replay``.

One line per event, in stream order::

    {"category": "RebaseCleanup", "key": "r1", "version": 1,
     "event_id": "…", "created_at": "2026-01-01T12:00:00.000000Z",
     "event": "RebaseCleanup.RebaseFailed", "payload": {...}}

Events are written as stored — name and JSON payload — never through an
event class, so a stream exports even when no class describes its events any
more. Lines are deterministic: streams by key, events by version, keys of
each object in a fixed order and payload keys sorted (PostgreSQL's JSONB does
not keep the order they were written in).

With replay, a tool on recorded streams (:mod:`pmc.streams`): it needs the runtime,
not the compiler, so a deployed service can export.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pmc.errors import PmcError
from pmc.runtime.stores.api import JsonValue, ProcessStore, RecordedEvent

FIELDS = ("category", "key", "version", "event_id", "created_at", "event", "payload")


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """One event of one stream, as a line of an export holds it."""

    category: str
    key: str
    version: int
    event_id: UUID
    created_at: datetime
    event: str  # the stored name: ``__event_name__`` of the class that recorded it
    payload: Mapping[str, JsonValue]

    @classmethod
    def of(cls, category: str, key: str, recorded: RecordedEvent) -> ExportedEvent:
        return cls(
            category=category,
            key=key,
            version=recorded.version,
            event_id=recorded.event_id,
            created_at=recorded.created_at,
            event=recorded.name,
            payload=recorded.payload,
        )


class ExportFormatError(PmcError, ValueError):
    """A line that is not an exported event; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


# ---- writing -------------------------------------------------------------------------


def export_streams(
    store: ProcessStore, category: str, keys: Iterable[str] | None = None
) -> Iterator[ExportedEvent]:
    """Every event of the chosen streams (default: all of ``category``), by key then version.

    A key named in ``keys`` with no stream yields nothing: exporting is
    reading, and an absent stream has nothing to read.
    """
    # Sorted here, not by the database: PostgreSQL orders text by its locale.
    chosen = sorted(store.stream_keys(category) if keys is None else set(keys))
    for key in chosen:
        for recorded in sorted(store.load_recorded(category, key), key=lambda r: r.version):
            yield ExportedEvent.of(category, key, recorded)


def to_json_line(event: ExportedEvent) -> str:
    """One line of JSON, without the newline."""
    document: dict[str, Any] = {
        "category": event.category,
        "key": event.key,
        "version": event.version,
        "event_id": str(event.event_id),
        "created_at": format_timestamp(event.created_at),
        "event": event.event,
        # sort_keys would also reorder the fixed fields above; sort the payload alone.
        "payload": sorted_keys(event.payload),
    }
    line = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    # Text is written as it is, except lone surrogates (not valid Unicode, so
    # not writable as UTF-8; streams recorded before stores refused them may
    # hold some): those, and only those, as JSON escapes, which read back as
    # the same string.
    return _LONE_SURROGATE.sub(lambda found: f"\\u{ord(found[0]):04x}", line)


# Only inside JSON strings, where json.dumps left them as they are.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def sorted_keys(value: JsonValue | Mapping[str, JsonValue]) -> JsonValue:
    """``value`` with the keys of every object in it sorted."""
    if isinstance(value, Mapping):
        return {name: sorted_keys(value[name]) for name in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``: one spelling per instant."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# ---- reading -------------------------------------------------------------------------


def read_json_lines(lines: Iterable[str]) -> Iterator[ExportedEvent]:
    """Parse an export; blank lines are skipped, anything else malformed raises.

    Raises :class:`ExportFormatError` naming the line: a broken export is an
    input error, not something replay could report per stream.
    """
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_json_line(line, number)


def parse_json_line(line: str, number: int = 1) -> ExportedEvent:
    try:
        document = json.loads(line)
    except json.JSONDecodeError as error:
        raise ExportFormatError(number, f"not JSON: {error.msg}") from None
    if not isinstance(document, dict):
        raise ExportFormatError(number, "expected a JSON object")
    missing = [name for name in FIELDS if name not in document]
    if missing:
        raise ExportFormatError(number, f"missing {', '.join(missing)}")
    return ExportedEvent(
        category=_text(document, "category", number),
        key=_text(document, "key", number),
        version=_version(document, number),
        event_id=_uuid(document, number),
        created_at=_timestamp(document, number),
        event=_text(document, "event", number),
        payload=_payload(document, number),
    )


def _text(document: dict[str, Any], name: str, number: int) -> str:
    value = document[name]
    if not isinstance(value, str) or not value:
        raise ExportFormatError(number, f"`{name}` must be a non-empty string")
    return value


def _version(document: dict[str, Any], number: int) -> int:
    value = document["version"]
    # bool is an int to Python, never a version.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ExportFormatError(number, "`version` must be an integer >= 1")
    return value


def _uuid(document: dict[str, Any], number: int) -> UUID:
    value = document["event_id"]
    try:
        return UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise ExportFormatError(number, "`event_id` must be a UUID") from None


def _timestamp(document: dict[str, Any], number: int) -> datetime:
    value = document["created_at"]
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ExportFormatError(number, "`created_at` must be an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise ExportFormatError(number, "`created_at` must carry a UTC offset (or `Z`)")
    return parsed.astimezone(UTC)


def _payload(document: dict[str, Any], number: int) -> Mapping[str, JsonValue]:
    value = document["payload"]
    if not isinstance(value, dict):
        raise ExportFormatError(number, "`payload` must be a JSON object")
    return value
