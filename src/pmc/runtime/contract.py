"""The contract between generated modules and the runtime, in one place.

A generated module is committed in a service and runs against whatever
``pmc.runtime`` is installed there. Everything the two share lives here: the
runtime API number a module declares, the table and spec types it fills in,
the trigger keys of its transition table, every derivation of a recorded id
and the canonical JSON of task inputs. (The base classes a module subclasses
are in ``lifecycle.py``, ``TaskContext`` in ``definition.py``; both are part
of the API all the same.) See "The runtime contract" in ``docs/runtime.md``.

The rule: a change to anything here that a module generated earlier, or a
stream recorded earlier, could notice needs a new ``RUNTIME_API`` (and, while
the old one stays supported, the runtime keeps reading it); ids and
canonical JSON never change at all (``tests/compat/test_ids.py``).

This module imports nothing of the engine or the definition class, so both
can import it: it is what broke their import cycle.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar, cast
from uuid import UUID

from event_sourcery import Event

from pmc.errors import PmcError
from pmc.runtime.lifecycle import (
    LifecycleTypes,
    ProcessData,
    SignalPayload,
    TaskInput,
    TaskResult,
)

# ---- the runtime API ------------------------------------------------------------------

# The newest API this pmc generates. Raise it when generated code needs
# something a runtime of the previous number does not have.
RUNTIME_API = 4

# The API that brought each thing a module may use. A module declares the
# lowest API that has everything it uses, so a module that uses nothing new
# still runs on the runtimes that ran it before.
WILDCARD_TABLES_API = 2  # every module generated since pmc 0.2.0 has them
BROADCAST_API = 3  # ``Route(machine, broadcast=True)``: every existing instance
# The language's second edition: data, guards, ``set``, signals, ``keep``,
# deadlines and data conditions; every function of such a module takes a
# ``Scope``, and its tables may hold what is marked "API 4" below. (A new
# API, not API 3: pmc 0.3.0 generated API 3 modules whose binders take
# ``(event, machine_id, key)``, and they keep running.)
SECOND_EDITION_API = 4

# Which pmc releases generate modules of each API, for the messages below.
# API 1 (pmc 0.1.0) declares nothing: a module without a declaration is one.
GENERATED_BY: Mapping[int, str] = {
    1: "pmc 0.1.0",
    2: "pmc 0.2.0 or later",
    3: "pmc 0.3.0 or later",
    4: "pmc 0.4.0 or later",
}

# The APIs this runtime runs. API 1 modules expand ``*`` into one transition
# row per state and have no wildcard tables; the runtime reads them as empty.
SUPPORTED_APIS: tuple[int, ...] = (1, 2, 3, 4)

# The class-level tables a definition of each API must fill in.
_TABLES_V1 = (
    "category",
    "key_field",
    "events",
    "start_on",
    "cancel_on",
    "machines",
    "tasks",
    "transitions",
    "timers",
    "complete_when",
    "fail_when",
    "lifecycle",
)
_TABLES_V2 = (*_TABLES_V1, "wildcard_transitions", "wildcard_timers")
REQUIRED_TABLES: Mapping[int, tuple[str, ...]] = {
    1: _TABLES_V1,
    2: _TABLES_V2,
    3: _TABLES_V2,  # API 3 adds no table: only what a ``Route`` may say
    4: _TABLES_V2,  # API 4's tables (data, signals) are optional: see ``ProcessDefinition``
}


_R = TypeVar("_R")
_E = TypeVar("_E")
_D = TypeVar("_D")
_I = TypeVar("_I")

# What a task handler of the generated ``<Process>Tasks`` protocol returns:
# the value itself from a ``def``, an awaitable of it from an ``async def``
# (the runtime awaits it). One object may mix both kinds of method.
Returns: TypeAlias = _R | Awaitable[_R]


class IncompatibleModule(PmcError, ImportError):
    """A generated module this runtime cannot run; raised while it is imported.

    The message names the pmc that generated the module and what to run. An
    ``ImportError``, so whatever reports a failed import reports this one.
    """


def require_api(api: int, *, source: str) -> None:
    """Fail the import of a module generated for ``api`` if this runtime cannot run it.

    Every generated module calls this first thing after its imports, before
    it subclasses anything a runtime of another API might lack.
    """
    if api in SUPPORTED_APIS:
        return
    raise IncompatibleModule(_unsupported(api, source))


def _unsupported(api: int, source: str) -> str:
    runs = f"API {', '.join(str(n) for n in SUPPORTED_APIS)}"
    if api > RUNTIME_API:
        return (
            f"{source} was compiled by a pmc newer than this pmc.runtime, for runtime API"
            f" {api} (this pmc.runtime runs {runs}): upgrade pmc where the module runs, or"
            f" regenerate it with the pmc installed here: `pmc compile {source}`"
        )
    return (
        f"{source} was compiled by {generated_by(api)} for runtime API {api}, which this"
        f" pmc.runtime no longer runs (it runs {runs}): regenerate it with"
        f" `pmc compile {source}`"
    )


def generated_by(api: int) -> str:
    return GENERATED_BY.get(api, f"a pmc of runtime API {api}")


def check_definition(cls: type, api: int) -> None:
    """Fail the import of a definition class of ``api`` that lacks a table.

    A module edited by hand, or cut short, would otherwise import fine and
    fail at the first event that needs the missing table.
    """
    if api not in SUPPORTED_APIS:
        raise IncompatibleModule(_unsupported(api, source_of(cls)))
    missing = [name for name in REQUIRED_TABLES[api] if not hasattr(cls, name)]
    if missing:
        source = source_of(cls)
        tables = ", ".join(f"`{name}`" for name in missing)
        raise IncompatibleModule(
            f"{cls.__module__}.{cls.__name__} (compiled from {source} by {generated_by(api)},"
            f" runtime API {api}) does not define {tables}: the module is incomplete or was"
            f" edited; regenerate it with `pmc compile {source}`"
        )


_HEADER_SOURCE = re.compile(r"^# Code generated by pmc .* from (?P<source>.+)\. DO NOT EDIT\.$")


def source_of(cls: type) -> str:
    """The ``.pm`` file a definition class was generated from, for messages.

    Read from the module's header (every API names it there); failing that,
    the module's own name with ``.pm``, as ``pmc compile`` names modules.
    """
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if isinstance(path, str):
        try:
            with open(path, encoding="utf-8") as file:
                match = _HEADER_SOURCE.match(file.readline().rstrip("\r\n"))
        except (OSError, UnicodeDecodeError):
            match = None
        if match:
            return match.group("source")
        return Path(path).with_suffix(".pm").name
    return f"{cls.__module__.rpartition('.')[2]}.pm"


# ---- table and spec types --------------------------------------------------------------

TaskMode = Literal["sync", "async"]

# A generated binding function: (trigger payload, machine id, process key) ->
# the task's input model. The payload is the input event, the task's result
# model (or None), a TaskFailure, or the TimerFired event.
Binder = Callable[[Any, str, Any], TaskInput]


@dataclass(frozen=True, slots=True)
class Scope(Generic[_E, _D, _I]):
    """What the functions of an API 4 module read: the trigger, and the values
    from before the transition.

    ``event`` is the trigger's payload (an input event, a task's result model
    or None, a ``TaskFailure``, a signal's payload, ``TimerFired``; None for
    an ``at`` deadline, which is read on entering a state); ``data``
    the process's record and ``instance`` the machine instance's (``NoData``
    where none is declared). Generated functions take it typed, e.g.
    ``Scope[ChargeCardResult, DunningData, rt.NoData]``.
    """

    event: _E
    data: _D
    instance: _I
    machine_id: str
    key: Any


@dataclass(frozen=True, slots=True)
class Assignments:
    """What a ``set`` clause writes: field -> new value, per record.

    The engine validates the values into the records' models and records
    them as JSON in ``TransitionPlanned.data_set`` / ``instance_set``.
    """

    data: Mapping[str, object] = field(default_factory=dict)
    instance: Mapping[str, object] = field(default_factory=dict)


# The functions an API 4 module generates, one per clause of a transition.
ScopedBinder = Callable[[Scope[Any, Any, Any]], TaskInput]  # ``run T(...)``
Guard = Callable[[Scope[Any, Any, Any]], bool]  # ``when EXPR``
Assign = Callable[[Scope[Any, Any, Any]], Assignments]  # ``set ...``
Emit = Callable[[Scope[Any, Any, Any]], Sequence[SignalPayload]]  # ``emit S(...)`` ...
Due = Callable[[Scope[Any, Any, Any]], datetime | None]  # ``on at data.F``
DataTest = Callable[[Any], bool]  # a data condition, given the process's record


@dataclass(frozen=True, slots=True)
class EventMeta:
    """What the store knows about the event being decided on.

    ``timestamp`` is the only clock a decision reads; ``event_id`` makes the
    ids of planned tasks and timers deterministic; ``key`` is the stream name.
    """

    event_id: UUID
    timestamp: datetime
    key: str


@dataclass(frozen=True, slots=True)
class Route:
    """The instances of one machine an input event is addressed to, in order.

    ``ids`` names them (an id no instance has yet creates one); a
    ``broadcast`` route (API 3) addresses every instance that exists,
    in the order they were created, and creates none.
    """

    machine: str
    ids: tuple[str, ...] = ()
    broadcast: bool = False


# The longest delay before a retry: 100 years, the longest duration a `.pm`
# file may write (PM0006; ``pmc.syntax.builder.MAX_DURATION_MS``).
MAX_DELAY_MS = 36_500 * 24 * 60 * 60 * 1000
_MAX_BACKOFF_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """``retry N [backoff D | every D] [max D]``: N more attempts after the first."""

    retries: int
    delay: Literal["none", "backoff", "every"] = "none"
    delay_ms: int = 0
    max_delay_ms: int | None = None

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def delay_after(self, failed_attempt: int) -> timedelta:
        """How long to wait before the attempt after ``failed_attempt`` (1-based).

        Never more than :data:`MAX_DELAY_MS` (100 years), whatever the number
        of retries: ``retry 30 backoff 1h`` without ``max`` would otherwise
        double past what ``timedelta`` can hold.
        """
        match self.delay:
            case "none":
                ms = 0
            case "every":
                ms = self.delay_ms
            case "backoff":
                # Doubling from delay_ms. The exponent is capped first, so no
                # huge integer is ever built: delay_ms >= 1 doubled 64 times
                # is far past the cap.
                exponent = min(max(failed_attempt - 1, 0), _MAX_BACKOFF_EXPONENT)
                ms = self.delay_ms * 2**exponent
        if self.max_delay_ms is not None:
            ms = min(ms, self.max_delay_ms)
        return timedelta(milliseconds=min(ms, MAX_DELAY_MS))


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    mode: TaskMode
    input: type[TaskInput]
    result: type[TaskResult] | None  # None: the task returns nothing
    method: str  # the method of the ``<Process>Tasks`` protocol that runs it
    retry: RetrySpec | None = None  # None: the first failure is final
    timeout_ms: int | None = None  # None: attempts never time out

    @property
    def max_attempts(self) -> int:
        return 1 if self.retry is None else self.retry.max_attempts


@dataclass(frozen=True, slots=True)
class MachineSpec:
    name: str
    states: type[StrEnum]
    initial: str
    final: tuple[str, ...]
    multi_instance: bool
    data: type[ProcessData] | None = None  # API 4: the instance record; None: NoData


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One transition; the table key holds its machine, source state and trigger."""

    name: str
    target: str
    task: str | None = None
    # Set exactly when ``task`` is: a ``Binder`` in an API 1-2 module, a
    # ``ScopedBinder`` in an API 4 one (``SECOND_EDITION_API``); an API 3
    # module's binders are ``Binder``s.
    bind: Binder | ScopedBinder | None = None
    # API 4.
    guard: Guard | None = None  # None: always taken (the fallback)
    assign: Assign | None = None  # ``set``
    emit: Emit | None = None  # ``emit``
    keep: tuple[str, ...] = ()  # task names that stay in flight


TransitionKey = tuple[str, str, str]  # (machine, state, trigger)
TaskTable = Mapping[str, TaskSpec]
# A row is one transition, or (API 4) the transitions of one state and
# trigger in source order: the first whose guard holds is taken.
TransitionRow = TransitionSpec | tuple[TransitionSpec, ...]
TransitionTable = Mapping[TransitionKey, TransitionRow]


def row_specs(row: TransitionRow | None) -> tuple[TransitionSpec, ...]:
    """The transitions of a row in source order (none for no row)."""
    if row is None:
        return ()
    return row if isinstance(row, tuple) else (row,)


TimerTable = Mapping[tuple[str, str], tuple["TimerSpec", ...]]  # (machine, state)

# ``*`` rows: ``(machine, trigger)`` -> the transition taken on that trigger in
# every non-final state that has no row of its own in ``TransitionTable``;
# ``machine`` -> the timers of every non-final state, after the state's own.
# One row per transition however many states ``*`` stands for, so a module
# grows with its source, not with states times wildcard transitions.
WildcardTable = Mapping[tuple[str, str], TransitionRow]
WildcardTimerTable = Mapping[str, tuple["TimerSpec", ...]]


@dataclass(frozen=True, slots=True)
class AllFinal:
    """``all M final``: M has an instance, and every instance is in a final state."""

    machine: str

    def accepted(self, machine: MachineSpec) -> tuple[str, ...]:
        return machine.final


@dataclass(frozen=True, slots=True)
class AllIn:
    """``all M in S, ...``: M has an instance, and every instance is in one of ``states``."""

    machine: str
    states: tuple[str, ...]

    def accepted(self, machine: MachineSpec) -> tuple[str, ...]:
        return self.states


@dataclass(frozen=True, slots=True)
class AnyIn:
    """``any M in S, ...``: some instance of M is in one of ``states``."""

    machine: str
    states: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """An ``after D`` transition leaving ``state``, or (API 4, ``at`` set) an
    ``at data.F`` one: due at the instant ``at`` reads, no timer if none."""

    transition: str
    after_ms: int
    at: Due | None = None


@dataclass(frozen=True, slots=True)
class DataCondition:
    """API 4: a data expression of ``complete when`` / ``fail when``.

    ``text`` is the expression as ``pmc fmt`` writes it: the reason a
    process failed on it says what held.
    """

    test: DataTest
    text: str


class DefinitionTables(Protocol):
    """What the engine reads of a definition; ``ProcessDefinition`` implements it."""

    @property
    def api(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def key_field(self) -> str: ...
    @property
    def events(self) -> tuple[type[Event], ...]: ...
    @property
    def cancel_on(self) -> tuple[type[Event], ...]: ...
    @property
    def machines(self) -> tuple[MachineSpec, ...]: ...
    @property
    def tasks(self) -> TaskTable: ...
    @property
    def complete_when(self) -> tuple[AllFinal | AllIn | DataCondition, ...]: ...
    @property
    def fail_when(self) -> tuple[AnyIn | DataCondition, ...]: ...
    @property
    def data_model(self) -> type[ProcessData] | None: ...  # API 4; None: NoData
    @property
    def signals(self) -> Mapping[str, type[SignalPayload]]: ...  # API 4
    @property
    def lifecycle(self) -> LifecycleTypes: ...

    def route(self, event: Event) -> Sequence[Route]: ...
    def route_signal(self, payload: SignalPayload) -> Sequence[Route]: ...  # API 4
    def machine(self, name: str) -> MachineSpec: ...
    def transition(self, machine: str, state: str, trigger: str) -> TransitionRow | None: ...
    def timers_in(self, machine: str, state: str) -> tuple[TimerSpec, ...]: ...
    def is_input(self, event: Event) -> bool: ...
    def is_lifecycle(self, event: Event) -> bool: ...
    def can_start(self, event: Event) -> bool: ...


# ---- trigger keys and derived ids ----------------------------------------------------

# Fixed forever: changing it would change every task and timer id derived
# from recorded events.
ID_NAMESPACE = uuid.UUID("6f1c9a52-3d0e-5b8e-9a57-2f4d1c7e8b30")


def derived_id(kind: Literal["task", "timer"], *parts: object) -> uuid.UUID:
    """A uuid5 over ``parts``: the same decision always yields the same id."""
    return joined_id(kind, "\x1f".join(map(str, parts)))


def joined_id(kind: Literal["task", "timer"], joined: str) -> uuid.UUID:
    r"""``derived_id(kind, *parts)``, given ``joined``: ``"\x1f".join(map(str, parts))``.

    A decision that derives several ids from the same parts (the process,
    key, event and instance) joins those once.
    """
    return _uuid5(_ID_HASH, f"{kind}\x1f{joined}")


def _uuid5(namespace: Any, name: str) -> uuid.UUID:
    """``uuid.uuid5`` of the namespace ``namespace`` hashes (``_namespace_hash``), twice as fast.

    The same SHA-1 of namespace and name, with version and variant set on
    the integer: the bytes round trip of ``uuid.uuid5`` costs as much as
    the hash.
    """
    digest = namespace.copy()
    digest.update(name.encode())
    # What ``uuid.UUID(int=...)`` makes, without its checks of a value that
    # is in range by construction: a third of the cost of an id. Every name
    # here is bound once, the slots' descriptors too (``object.__setattr__``
    # looks a slot up by name on every call): an id costs a third less.
    made = _new_uuid(_UUID)
    _set_int(made, (_int_from_bytes(digest.digest()[:16]) & _UUID5_CLEAR) | _UUID5_SET)
    _set_is_safe(made, _SAFE_UNKNOWN)
    return made


def _namespace_hash(namespace: uuid.UUID) -> Any:
    # A SHA-1 fed the namespace once, copied per id.
    return hashlib.sha1(namespace.bytes, usedforsecurity=False)


# Version 5 in bits 76..79, the RFC 4122 variant in bits 62..63, as uuid.UUID(version=5) sets.
_UUID5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID5_SET = (5 << 76) | (0x8000 << 48)
_UUID = uuid.UUID
_new_uuid = object.__new__
_int_from_bytes = int.from_bytes
_set_int = uuid.UUID.__dict__["int"].__set__
_set_is_safe = uuid.UUID.__dict__["is_safe"].__set__
_SAFE_UNKNOWN = uuid.SafeUUID.unknown
_ID_HASH = _namespace_hash(ID_NAMESPACE)


def on_event(event: str) -> str:
    """The trigger key of ``on Event`` and ``on Event.field``."""
    return event


def on_outcome(task: str, outcome: Literal["completed", "failed"]) -> str:
    """The trigger key of ``on Task completed`` / ``on Task failed``."""
    return f"{task} {outcome}"


def on_signal(signal: str) -> str:
    """The trigger key of ``on Signal`` and ``on Signal.field`` (API 4)."""
    return f"signal:{signal}"


def on_timer(transition: str) -> str:
    """The trigger key of an ``after D`` transition.

    A fired timer is matched by its transition's name, unique in its machine,
    so two timers leaving one state never share a key.
    """
    return f"after:{transition}"


# Fixed forever: changing it would change the ids of events already recorded,
# and a re-delivered outcome would then be recorded a second time.
RUNTIME_NAMESPACE = uuid.UUID("0b7f3c1e-5a2d-5e4f-8c61-9d2e7a4b3f10")


_RUNTIME_HASH = _namespace_hash(RUNTIME_NAMESPACE)


def runtime_id(*parts: object) -> uuid.UUID:
    return _uuid5(_RUNTIME_HASH, "\x1f".join(map(str, parts)))


def delivery_id(category: str, key: str, event_id: str | uuid.UUID) -> uuid.UUID:
    """The stored id of an input event delivered as ``event_id`` to one stream.

    A UUID counts as its canonical text: ``uuid`` and ``str(uuid)`` are one delivery.
    """
    return runtime_id("delivery", category, key, event_id)


def decision_id(event_id: uuid.UUID, index: int) -> uuid.UUID:
    """The id of the ``index``-th event decided on ``event_id``."""
    return runtime_id("decision", event_id, index)


def decision_ids(event_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``decision_id(event_id, index)`` for each index below ``count``: the
    hash of their common start is computed once."""
    if not count:
        return []
    common = _RUNTIME_HASH.copy()
    common.update(f"decision\x1f{event_id}\x1f".encode())
    return [_uuid5(common, str(index)) for index in range(count)]


def started_id(task_id: uuid.UUID, attempt: int) -> uuid.UUID:
    return runtime_id("started", task_id, attempt)


def renewed_id(task_id: uuid.UUID, attempt: int, number: int) -> uuid.UUID:
    """The ``number``-th renewal of an attempt's lease (a ``TaskStarted`` again)."""
    return runtime_id("renewed", task_id, attempt, number)


def outcome_id(task_id: uuid.UUID, attempt: int) -> uuid.UUID:
    # Completed and failed share one id: an attempt has one outcome.
    return runtime_id("outcome", task_id, attempt)


def timed_out_id(task_id: uuid.UUID, attempt: int) -> uuid.UUID:
    return runtime_id("timed-out", task_id, attempt)


def fired_id(timer_id: uuid.UUID) -> uuid.UUID:
    return runtime_id("fired", timer_id)


def operator_id(action: str, category: str, key: str, action_id: str) -> uuid.UUID:
    """The stored id of an operator action given an id (``--id``).

    The action's kind is part of it: ``cancel`` and ``retry`` given one id
    are two actions, not a repeat of one.
    """
    return runtime_id("operator", action, category, key, action_id)


# ---- canonical JSON -------------------------------------------------------------------


def canonical_json(payload: dict[str, Any]) -> str:
    """``payload`` as JSON with sorted keys, no spaces, non-ASCII kept: what
    ``json.dumps(payload, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)`` gives."""
    return "".join(_CANONICAL(payload, 0))


# ``allow_nan=False``: inf and nan are rejected where they enter (input
# events, task inputs and results); one that slips through fails loudly
# here instead of being stored as ``Infinity`` and replayed as ``null``.
# The C encoder ``json.dumps`` uses, made once: ``JSONEncoder.encode`` makes
# one per call, which costs more than encoding a task's input. No markers
# (``check_circular=False``): a payload is JSON, decoded from the store or
# dumped from a model, so it holds no cycle; and one table of markers shared
# between calls would keep an entry left by a call that raised.
def canonical_encoder(c_make_encoder: Any) -> Callable[[dict[str, Any], int], Iterable[str]]:
    """The encoder ``canonical_json`` joins: json's C one when there is one
    (``json.encoder.c_make_encoder``, None on a Python without it), else
    ``json.dumps`` with the same options."""
    if c_make_encoder is None:
        return lambda payload, _level: (
            json.dumps(
                payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ),
        )
    return cast(
        Callable[[dict[str, Any], int], Iterable[str]],
        c_make_encoder(
            None,  # markers
            json.JSONEncoder().default,
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,  # indent
            ":",
            ",",
            True,  # sort_keys
            False,  # skipkeys
            False,  # allow_nan
        ),
    )


_CANONICAL = canonical_encoder(getattr(json.encoder, "c_make_encoder", None))  # not in typeshed
