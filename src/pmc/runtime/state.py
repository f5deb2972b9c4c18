"""The state of one process instance: the fold of its event stream.

Everything here is immutable, so a state can be cached, shared between
threads and compared after a replay. Updates return new objects; the maps are
read-only views over dicts that nothing else holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypedDict, TypeVar, Unpack
from uuid import UUID

from pmc.runtime.lifecycle import NoData, ProcessData

KeyValue = str | int | UUID


def stream_key(key: KeyValue) -> str:
    """The name of the stream of process key ``key``, given in its declared type.

    ``str(key)``, as for the key field of an input event: ``1`` and ``"1"``
    name one stream, a UUID its canonical text. Any other type (``True``,
    ``1.0``) would silently name a stream no event is ever recorded in.
    """
    if isinstance(key, bool) or not isinstance(key, str | int | UUID):
        raise TypeError(f"a process key is a str, int or UUID, not {type(key).__name__}")
    return str(key)


_K = TypeVar("_K")
_V = TypeVar("_V")


def frozen_map(items: Mapping[_K, _V] | None = None) -> Mapping[_K, _V]:
    """A read-only copy of ``items``."""
    return MappingProxyType(dict(items or {}))


def with_item(mapping: Mapping[_K, _V], key: _K, value: _V) -> Mapping[_K, _V]:
    # A read-only view's ``copy`` copies the dict under it at C speed, where
    # ``dict(view)`` goes key by key through the mapping protocol: ten times
    # slower, and a fold does this for most events.
    copy: dict[_K, _V] = mapping.copy() if type(mapping) is MappingProxyType else dict(mapping)
    copy[key] = value
    return MappingProxyType(copy)


def without_keys(mapping: Mapping[_K, _V], keys: frozenset[_K]) -> Mapping[_K, _V]:
    if not keys:
        return mapping
    return MappingProxyType({k: v for k, v in mapping.items() if k not in keys})


class End(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    """Where the current attempt of a task in flight stands."""

    PLANNED = "planned"  # planned by a transition; no attempt claimed yet
    RUNNING = "running"  # claimed by a worker (TaskStarted)
    FAILED = "failed"  # the attempt failed; a retry is being scheduled
    RETRY_SCHEDULED = "retry_scheduled"  # the next attempt may start at ``not_before``


@dataclass(frozen=True, slots=True)
class TaskInFlight:
    """A planned task whose outcome has not been settled yet."""

    task_id: UUID
    task: str
    mode: str
    machine: str
    machine_id: str
    transition: str
    # Canonical JSON of the task input (sorted keys): immutable, and equal
    # after a round trip through any store.
    input_json: str
    attempt: int = 1
    status: TaskStatus = TaskStatus.PLANNED
    not_before: datetime | None = None
    worker: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Timer:
    """A scheduled ``after D`` transition, cancelled when its instance leaves ``state``."""

    timer_id: UUID
    machine: str
    machine_id: str
    transition: str
    state: str
    due_at: datetime


class StateChanges(TypedDict, total=False):
    """Some fields of a ``ProcessState``: what ``ProcessState.changed`` replaces."""

    instances: Mapping[str, Mapping[str, str]]
    tasks: Mapping[UUID, TaskInFlight]
    timers: Mapping[UUID, Timer]
    key: KeyValue | None
    version: int
    end: End | None
    end_reason: str | None
    single_instance: frozenset[str]
    data: ProcessData
    instance_data: Mapping[str, Mapping[str, ProcessData]]


# Without slots: ``changed`` copies a state by its ``__dict__``, many times
# faster than ``dataclasses.replace``, which a fold does once per event.
@dataclass(frozen=True)
class ProcessState:
    """The fold of one stream.

    ``instances`` maps machine -> machine id -> state name; a machine with a
    single instance has it from the start, under the machine's name (read
    it with ``of``, and a many-instance machine with ``instances_of``).
    ``version`` counts the folded events, so it is the stream version to
    expect on the next append.

    ``data`` is the process's record (``<Process>Data``, or ``NoData`` where
    the process declares none) and ``instance_data`` machine -> machine id ->
    the instance's record (``<Machine>Data`` or ``NoData``), present for
    every instance in ``instances``: both are the recorded ``set`` values
    applied to the declared defaults (runtime API 4).
    """

    instances: Mapping[str, Mapping[str, str]]
    tasks: Mapping[UUID, TaskInFlight] = field(default_factory=frozen_map)
    timers: Mapping[UUID, Timer] = field(default_factory=frozen_map)
    key: KeyValue | None = None
    version: int = 0
    end: End | None = None
    end_reason: str | None = None
    single_instance: frozenset[str] = frozenset()  # the machines with one instance
    data: ProcessData = field(default_factory=NoData)
    instance_data: Mapping[str, Mapping[str, ProcessData]] = field(default_factory=frozen_map)

    def changed(self, **changes: Unpack[StateChanges]) -> ProcessState:
        """This state with the fields ``changes`` names replaced: ``dataclasses.replace``
        without its run-time checks (mypy checks the names and types), for the fold's
        hot path."""
        copy = object.__new__(ProcessState)
        object.__setattr__(copy, "__dict__", self.__dict__ | changes)
        return copy

    def of(self, machine: str) -> str:
        """The state of single-instance machine ``machine``.

        A many-instance machine has no one state: that is a TypeError (use
        ``instances_of``), not a value that silently compares unequal.
        """
        instances = self.instances_of(machine)
        if machine not in self.single_instance:
            raise TypeError(
                f"machine {machine} has many instances: "
                f"read their states with instances_of({machine!r})"
            )
        return instances[machine]

    def instances_of(self, machine: str) -> Mapping[str, str]:
        """Machine id -> state of every instance of ``machine`` (one, under its own
        name, for a single-instance machine)."""
        try:
            return self.instances[machine]
        except KeyError:
            known = ", ".join(self.instances) or "none"
            raise KeyError(f"no machine {machine!r} in this process (machines: {known})") from None

    @property
    def started(self) -> bool:
        """Has an input event been recorded? (Its key field set ``key``.)"""
        return self.key is not None

    @property
    def ended(self) -> bool:
        return self.end is not None

    def state_of(self, machine: str, machine_id: str) -> str | None:
        """The state of one instance, or None if it has not been created."""
        return self.instances.get(machine, {}).get(machine_id)

    def with_instance(self, machine: str, machine_id: str, state: str) -> ProcessState:
        per_machine = with_item(self.instances.get(machine, frozen_map()), machine_id, state)
        return self.changed(instances=with_item(self.instances, machine, per_machine))

    def instance_record(self, machine: str, machine_id: str) -> ProcessData | None:
        """The record of one instance, or None if it has not been created."""
        return self.instance_data.get(machine, {}).get(machine_id)

    def with_instance_record(
        self, machine: str, machine_id: str, record: ProcessData
    ) -> ProcessState:
        per_machine = with_item(self.instance_data.get(machine, frozen_map()), machine_id, record)
        return self.changed(instance_data=with_item(self.instance_data, machine, per_machine))

    def with_task(self, task: TaskInFlight) -> ProcessState:
        return self.changed(tasks=with_item(self.tasks, task.task_id, task))

    def without_tasks(self, task_ids: frozenset[UUID]) -> ProcessState:
        if not task_ids:
            return self
        return self.changed(tasks=without_keys(self.tasks, task_ids))

    def with_timer(self, timer: Timer) -> ProcessState:
        return self.changed(timers=with_item(self.timers, timer.timer_id, timer))

    def without_timers(self, timer_ids: frozenset[UUID]) -> ProcessState:
        if not timer_ids:
            return self
        return self.changed(timers=without_keys(self.timers, timer_ids))

    def tasks_of(self, machine: str, machine_id: str) -> frozenset[UUID]:
        if not self.tasks:
            return frozenset()
        return frozenset(
            t.task_id
            for t in self.tasks.values()
            if t.machine == machine and t.machine_id == machine_id
        )

    def timers_of(self, machine: str, machine_id: str) -> frozenset[UUID]:
        if not self.timers:
            return frozenset()
        return frozenset(
            t.timer_id
            for t in self.timers.values()
            if t.machine == machine and t.machine_id == machine_id
        )
