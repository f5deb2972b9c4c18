"""What every process store offers, whatever its backend.

A process store keeps two things for each stream (one process instance,
addressed by ``category`` and ``key``):

- its events, through event-sourcery — the source of truth;
- a small index of pending work (tasks to run, retries, timeouts, timers)
  written in the same transaction as the events, so a worker can find what
  is due without scanning streams. The index only says where to look: a
  worker claims a row, then reads the stream to decide what is really due.

Every write is an ``append`` at an expected version, checked by the store
itself on every backend (event-sourcery leaves ``expected_version=0``
unchecked and its in-memory backend never detects races).

Each store has one clock, ``now()``: the time that leases, timeouts, retry
times and timer due times are stamped with and compared to. Workers on
several machines compare times other machines wrote, so a PostgreSQL store
tells the database server's time, never the local machine's; SQLite and
memory stores (one machine) tell the local time. Tests give a store a fake
clock, and everything that reads time through that store follows it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol, TypeAlias
from uuid import UUID

from event_sourcery import Event
from sqlalchemy import exc as sql_errors

from pmc.errors import InputError, PmcError
from pmc.runtime.instances import InstanceQuery, InstanceRow, InstanceUpdate

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
Clock: TypeAlias = Callable[[], datetime]

# event-sourcery's tables hold stream names, categories and our ids in
# VARCHAR(255) columns; longer values would fail only on PostgreSQL.
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append, with the id the caller chose for it.

    Callers pass deterministic ids (derived from what caused the event) so
    that recording the same thing twice is detected instead of stored twice.
    ``checked``: the caller has had ``check_event`` pass on ``event`` already
    (the recorder checks an input event before deciding on it), so the store
    need not check it again; anyone else leaves it False and gets the check.
    """

    event: Event
    event_id: UUID
    checked: bool = False
    # The W3C trace context (``traceparent``, ...) of the span that recorded
    # it, kept in its event-sourcery context (``pmc.runtime.telemetry``).
    trace: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as recorded: ``version`` is 1-based, ``created_at`` is aware UTC.

    ``trace``: the trace context recorded with it (``NewEvent.trace``), if any.
    """

    event: Event
    version: int
    event_id: UUID
    created_at: datetime
    trace: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event exactly as stored: its name and JSON payload, not turned into a class.

    For export and replay, which must read events that no class (or no
    longer the same class) describes.
    """

    version: int
    event_id: UUID
    created_at: datetime
    name: str
    payload: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class WorkRow:
    """A row of the pending-work index, as the writer of a stream wants it.

    ``kind`` is free text for the runtime ("task", "retry", "timer", ...);
    the store only orders rows by ``due_at``.
    """

    work_id: str
    kind: str
    due_at: datetime
    payload: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name("work_id", self.work_id)
        check_name("kind", self.kind)
        require_aware("due_at", self.due_at)


@dataclass(frozen=True, slots=True)
class WorkChanges:
    """Index changes for the stream being appended to, applied in the same transaction.

    Upserting a row replaces it entirely and clears any claim on it: the
    writer has decided anew what this work is.
    """

    upsert: tuple[WorkRow, ...] = ()
    delete: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        upserted = [row.work_id for row in self.upsert]
        if len(set(upserted)) != len(upserted):
            raise ValueError(f"work ids upserted twice in one change: {sorted(upserted)}")
        both = set(upserted) & set(self.delete)
        if both:
            raise ValueError(f"work ids both upserted and deleted: {sorted(both)}")

    def __bool__(self) -> bool:
        return bool(self.upsert or self.delete)


NO_WORK = WorkChanges()


@dataclass(frozen=True, slots=True)
class PendingWork:
    """The rows of a process's pending work: ``due`` can be claimed now; ``later``
    wait for their time or for a live claim (a running attempt) to end."""

    due: int
    later: int


# What a worker claims: one process's category, several (a tuple), or None for all.
Categories = str | tuple[str, ...] | None


def categories_of(category: Categories) -> tuple[str, ...] | None:
    """``category`` as a tuple of categories, or None for all."""
    return (category,) if isinstance(category, str) else category


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A stored row of the pending-work index, with its claim if any."""

    category: str
    key: str
    work_id: str
    kind: str
    due_at: datetime
    payload: Mapping[str, JsonValue]
    claimed_by: str | None
    lease_until: datetime | None
    # The stream's events read by the claim, when its claimer asked for them.
    tail: Tail | None = None


@dataclass(frozen=True, slots=True)
class Tail:
    """The events of a stream with a version above ``after_version``, read at one moment."""

    after_version: int
    events: tuple[StoredEvent, ...]


# A claimer's answer to "from which version do you need this stream's events?"
# (category, key) -> version; the claim reads them in its own transaction.
ReadAfter = Callable[[str, str], int]


@dataclass(frozen=True, slots=True)
class Claimed:
    """What ``claim_and_append`` claimed, and what became of the appends made with the claim.

    ``appended`` holds the outcome of each request the claimer asked for, in
    its order: the stored events, or why nothing of that request was written.
    """

    items: list[WorkItem]
    appended: list[AppendOutcome]


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One ``ProcessStore.append`` call, to be recorded with others by ``append_many``."""

    category: str
    key: str
    events: tuple[NewEvent, ...]
    expected_version: int
    work: WorkChanges = NO_WORK
    now: datetime | None = None
    # The stream's row of the instance index, written with the events.
    instance: InstanceUpdate | None = None


class StoreUrlError(InputError, ValueError):
    """A store URL that names no store pmc can open; a ``ValueError`` as well, as it was."""


class UnstorableValue(PmcError, ValueError):
    """A key, a name or an event holding what no store can hold: too long, empty, not Unicode.

    A ``ValueError`` too, as these were before this class: code catching that still does.
    """


class AppendRejected(PmcError):
    """An append wrote nothing; the caller should reload the stream and decide again."""


class VersionConflict(AppendRejected):
    """The stream is not at the version the writer expected (someone else wrote first)."""

    def __init__(
        self, category: str, key: str, expected_version: int, actual_version: int | None
    ) -> None:
        self.category = category
        self.key = key
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"stream {category}/{key}: expected version {expected_version}, found {actual}"
        )


class DuplicateEventId(AppendRejected):
    """Some of the event ids are already recorded (in this stream or another).

    Raised rather than silently dropping those events: the batch was decided
    as a whole, so storing only part of it could record decisions without
    their cause. A caller that checked its stream first only sees this for an
    id that lives in a different stream.
    """

    def __init__(self, event_ids: Sequence[UUID]) -> None:
        self.event_ids = tuple(event_ids)
        listed = ", ".join(str(event_id) for event_id in self.event_ids)
        super().__init__(f"event ids already recorded: {listed}")


class StreamBusy(AppendRejected):
    """Another transaction was writing the stream, and this append would not wait for it.

    Only appends made with a claim (``claim_and_append``) on PostgreSQL: the
    claim holds work rows that the other writer may be waiting for, so
    waiting could deadlock. The caller records it again on its own.
    """

    def __init__(self, category: str, key: str) -> None:
        self.category = category
        self.key = key
        super().__init__(f"stream {category}/{key}: another transaction is writing it")


# What ``append_many`` gives back for each request: the stored events, or why
# nothing of that request was written.
AppendOutcome: TypeAlias = "list[StoredEvent] | AppendRejected"

# A claimer's writes made with its claim: given the claimed rows (with their
# tails), the appends to record in the claim's transaction. Called while the
# transaction is open (holding the database's write lock on SQLite), so it
# must be quick, and may only read the store (a write would wait for this one).
# An item's ``tail`` is None there when the store reads that stream only after
# the claim commits (a long one on SQLite): nothing of it can be decided yet.
# ``Claimed.items`` carry every tail asked for.
ClaimAppends = Callable[[Sequence[WorkItem]], Sequence[AppendRequest]]


class ProcessStore(Protocol):
    """The narrow store API the process manager and the workers are built on."""

    def init(self) -> None:
        """Create the tables if missing; idempotent, also done on first use."""

    def now(self) -> datetime:
        """The store's clock (aware UTC): the time every runner of this store goes by."""
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""

    def load(self, category: str, key: str, after_version: int = 0) -> list[StoredEvent]:
        """The events of a stream with a version above ``after_version``, in order."""
        ...

    def load_recorded(self, category: str, key: str) -> list[RecordedEvent]:
        """Every event of a stream as stored (name and payload), by version."""
        ...

    def version(self, category: str, key: str) -> int:
        """The stream's current version; 0 when it has no events."""
        ...

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
        """Record ``events``, ``work`` and ``instance`` in one transaction, or nothing at all.

        Raises VersionConflict unless the stream is exactly at
        ``expected_version`` (0: the stream must not exist yet), and
        DuplicateEventId if an event id is already recorded. With no events,
        only the version is checked and the work changes applied.
        ``now`` (aware) stamps ``created_at``; defaults to the store's clock.
        """
        ...

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        """Record several appends in as few transactions as the backend allows (group commit).

        Each request keeps every guarantee of ``append`` on its own: all of
        it or nothing, its version checked, its event ids checked. A request
        that ``append`` would reject (``VersionConflict``, ``DuplicateEventId``)
        is returned as that error in its place and writes nothing; the others
        are recorded all the same. Requests for one stream apply in order (a
        later one's expected version counts the earlier ones' events); those
        of different streams in any order (the SQL stores take streams in one
        fixed order, so that batches never deadlock on stream rows),
        so of two requests carrying one event id into different streams
        either may be the one recorded. Such batches may still deadlock on
        the event id's index entry (PostgreSQL): the batch PostgreSQL undoes
        is recorded again one request at a time, as after a unique
        violation, never raised as a deadlock. Any other error (a lost
        connection, say) is raised, and then none of the requests may be
        assumed recorded or not: the caller reads again.
        """
        ...

    def stream_keys(self, category: str) -> list[str]:
        """Keys of every stream of ``category`` that has events, sorted."""
        ...

    def instances(self, category: str, query: InstanceQuery) -> list[InstanceRow]:
        """The rows of the instance index of ``category`` that ``query`` selects, by key.

        ``stuck_for`` is judged at the store's clock.
        """
        ...

    def instance(self, category: str, key: str) -> InstanceRow | None:
        """The instance index's row of one stream; None if it has none."""
        ...

    def next_due(self, category: str, key: str) -> datetime | None:
        """The earliest of one stream's pending-work rows (``InstanceRow.next_due``),
        row or no row in the instance index; None if it has no pending work."""
        ...

    def claim_due(
        self,
        now: datetime,
        worker_id: str,
        limit: int,
        lease_seconds: float,
        category: Categories = None,
        read_after: ReadAfter | None = None,
    ) -> list[WorkItem]:
        """Claim up to ``limit`` rows due at ``now`` that nobody holds a live lease on.

        Atomic across threads, processes and machines: a row is handed to one
        claimer until ``now + lease_seconds``; after that anyone may claim it.
        ``category`` limits the claim to one process's streams, or to several
        (a tuple of categories): a worker runs the tasks of the processes it
        serves, and other processes may share the store.
        With ``read_after``, each claimed item's ``tail`` holds its stream's
        events after ``read_after(category, key)``, read with the claim (in
        its transaction where the store has them), so that judging the row
        costs no read of its own.
        """
        ...

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
        """``claim_due``, recording ``appends(items)`` in the same transaction.

        Each append keeps every guarantee of ``append_many``: checked on its
        own, a rejected one returned in its place (``Claimed.appended``), the
        others recorded with the claim, all or nothing. An append never
        waits for another writer of its stream while the claim holds its
        rows (that writer may be waiting for one of them): where a store
        would have to, the append is rejected as ``StreamBusy``. A worker starts the
        attempts it claimed this way: their ``TaskStarted``s, decided on the
        tails the claim read, commit with the claim, in one transaction. If
        the transaction fails, nothing of it is written (the rows stay
        unclaimed) and the error is raised.
        """
        ...

    def release(self, item: WorkItem) -> bool:
        """Drop the claim held by ``item.claimed_by``; False if it no longer holds it."""
        ...

    def has_due(self, now: datetime, category: Categories = None) -> bool:
        """Whether ``claim_due(now, ..., category)`` would find anything (a cheap read)."""
        ...

    def pending_work(self, now: datetime, category: str) -> PendingWork:
        """How many rows of ``category``'s pending work a worker could claim at ``now``,
        and how many it could not yet (one counting read)."""
        ...

    def wait_for_due(self, timeout: float, category: Categories = None) -> bool:
        """Block until some work (of ``category``) is due (True) or ``timeout`` seconds pass.

        Due at the store's clock.

        Wakes at once on changes made through this store object. Other
        processes' work is noticed within 100 ms: by polling, or on
        PostgreSQL when they commit (``LISTEN/NOTIFY``), polling then only as a
        slow fallback, every two seconds (also to see work that comes due by
        the clock).
        """
        ...


def with_tails(
    store: ProcessStore, items: Sequence[WorkItem], read_after: ReadAfter | None
) -> list[WorkItem]:
    """``items`` with their streams' tails as ``claim_due`` gives them, read one by one."""
    if read_after is None:
        return list(items)
    return read_tails(store.load, items, read_after)


def read_tails(
    load: Callable[[str, str, int], Sequence[StoredEvent]],
    items: Sequence[WorkItem],
    read_after: ReadAfter,
) -> list[WorkItem]:
    """``items`` with their streams' tails, each stream read once with ``load``."""
    tails = {
        (category, key): tail_of(load, category, key, read_after)
        for category, key in dict.fromkeys((item.category, item.key) for item in items)
    }
    return [replace(item, tail=tails[item.category, item.key]) for item in items]


def tail_of(
    load: Callable[[str, str, int], Sequence[StoredEvent]],
    category: str,
    key: str,
    read_after: ReadAfter,
) -> Tail:
    after = read_after(category, key)
    return Tail(after, tuple(load(category, key, after)))


def no_appends(_items: Sequence[WorkItem]) -> Sequence[AppendRequest]:
    """The ``ClaimAppends`` of a claim that appends nothing (``claim_due``)."""
    return ()


def append_alone(store: ProcessStore, request: AppendRequest) -> list[StoredEvent]:
    """``append`` as ``append_many`` of one request, its rejection raised."""
    (outcome,) = store.append_many([request])
    if isinstance(outcome, AppendRejected):
        raise outcome
    return outcome


def transient(error: BaseException) -> bool:
    """Whether ``error`` from a store may pass if the same write is tried again.

    A lost or refused connection, a timeout, a lock or serialisation
    conflict: SQLAlchemy's ``OperationalError`` (SQLite's "database is
    locked" too), ``InterfaceError``, ``DisconnectionError`` and pool
    ``TimeoutError``, any database error that invalidated its connection,
    and Python's ``ConnectionError`` and ``TimeoutError``. Not an error about
    what is written (``DataError``, ``IntegrityError``, ``ValueError``,
    ``TypeError``): writing it again fails again.
    """
    if isinstance(error, sql_errors.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        sql_errors.OperationalError
        | sql_errors.InterfaceError
        | sql_errors.DisconnectionError
        | sql_errors.TimeoutError
        | ConnectionError
        | TimeoutError,
    )


def utc_now() -> datetime:
    """This machine's clock: the clock of the stores that live on one machine."""
    return datetime.now(UTC)


def require_aware(name: str, value: datetime) -> None:
    # Naive datetimes would be compared with UTC ones stored by other
    # processes; refusing them keeps every backend unambiguous.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def to_naive_utc(value: datetime) -> datetime:
    """The form the SQL columns (``TIMESTAMP WITHOUT TIME ZONE``) hold."""
    require_aware("datetime", value)
    return value.astimezone(UTC).replace(tzinfo=None)


def from_naive_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def check_name(what: str, value: str) -> None:
    if not value:
        raise UnstorableValue(f"{what} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise UnstorableValue(
            f"{what} is longer than {MAX_NAME_LENGTH} characters: {value[:40]!r}..."
        )
    problem = unstorable(value)
    if problem is not None:
        # PostgreSQL cannot store U+0000 nor lone surrogates in text, and
        # nothing can encode the latter as UTF-8: refused on every backend alike.
        raise UnstorableValue(f"{what} must not contain {problem}: {value[:40]!r}")


def check_category(category: str) -> None:
    check_name("category", category)
    # KurrentDB reads `-` in a stream name as the category separator.
    if "-" in category:
        raise ValueError(f"category must not contain '-': {category!r}")


def check_stream(category: str, key: str) -> None:
    check_category(category)
    check_name("key", key)


def check_append(
    events: Sequence[NewEvent],
    expected_version: int,
    work: WorkChanges,
    instance: InstanceUpdate | None = None,
) -> None:
    if expected_version < 0:
        raise ValueError(f"expected_version must be >= 0, got {expected_version}")
    ids = [new.event_id for new in events]
    if len(set(ids)) != len(ids):
        raise ValueError("the same event id appears twice in one append")
    for new in events:
        if not new.checked:
            check_event(new.event)
    if work.upsert and not events and expected_version == 0:
        # The stream must then be empty, and work always belongs to a stream.
        raise ValueError("work rows can only be added to a stream that has events")
    if instance is not None and not events and expected_version == 0:
        raise ValueError("an instance row can only be written for a stream that has events")


def check_event(event: Event) -> None:
    """Refuse an event holding text no store can hold (see ``unstorable``).

    PostgreSQL's JSONB refuses U+0000 and lone surrogates: refused on every
    backend alike, before anything is written.
    """
    problem = unstorable(event.model_dump())
    if problem is not None:
        raise UnstorableValue(
            f"{type(event).__name__} contains {problem}, which stores cannot hold"
        )


def unstorable(value: object) -> str | None:
    """What in ``value`` (strings nested in dicts, lists, tuples) no store can hold, or None.

    A NUL character (U+0000), which PostgreSQL refuses in text and JSONB; or
    text that is not valid Unicode: a lone surrogate (U+D800..U+DFFF, as
    ``os.fsdecode`` and other ``surrogateescape`` decoding make of undecodable
    bytes), which has no UTF-8 form and which PostgreSQL refuses too. Every
    backend refuses both alike.
    """
    if isinstance(value, str):
        return "a NUL character (\\x00)" if "\x00" in value else lone_surrogate(value)
    if _plainly_storable(value):
        return None
    return _first_unstorable(value)


def _plainly_storable(value: object) -> bool:
    """Is all text in ``value`` storable, as one C-speed check of its JSON? False if unsure.

    Every string ``unstorable`` looks at (dict keys and values, items of
    lists, tuples and sets) is in the JSON, as it is but a NUL, escaped as
    ``\\u0000`` (plain text that looks so only makes this unsure). Where
    this is unsure, the walk of ``_first_unstorable`` tells what it is.
    """
    try:
        text = _TEXTS.encode(value)
    except (TypeError, ValueError, RecursionError):  # keys JSON cannot have, a cycle
        return False
    if "\\u0000" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _members(value: object) -> object:
    # Sets are looked into, as by the walk; anything else it ignores too.
    return list(value) if isinstance(value, set | frozenset) else None


_TEXTS = json.JSONEncoder(ensure_ascii=False, default=_members)


def _first_unstorable(value: object) -> str | None:
    """``unstorable`` found by walking ``value``: the first problem, described."""
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        for k, v in value.items():
            problem = _first_unstorable(k) or _first_unstorable(v)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            problem = _first_unstorable(item)
            if problem is not None:
                return problem
    return None


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text``, described (``a lone surrogate (\\udcff)``), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        surrogate = text[error.start].encode("unicode_escape").decode("ascii")
        return f"a lone surrogate ({surrogate})"
    return None


def check_claim(limit: int, lease_seconds: float) -> None:
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if lease_seconds <= 0:
        raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
