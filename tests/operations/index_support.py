"""Helpers of the operations tests: the index as the store keeps it, and forgetting it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from pmc.runtime.instances import InstanceQuery, InstanceRow
from pmc.runtime.state import TaskInFlight
from pmc.runtime.stores import MemoryStore, ProcessStore, SqlStore
from pmc.runtime.stores.schema import instance_states, instances


def all_rows(store: ProcessStore, category: str) -> list[InstanceRow]:
    return store.instances(category, InstanceQuery(limit=10_000))


def comparable(row: InstanceRow | None) -> dict[str, Any] | None:
    """A row as plain data (its maps are read-only views)."""
    return None if row is None else row.to_json()


def forget_index(store: ProcessStore) -> None:
    """Drop every row of the instance index, as in a store written before it existed."""
    if isinstance(store, MemoryStore):
        with store._lock:
            store._instances.clear()
    elif isinstance(store, SqlStore):
        with store._write_engine.begin() as connection:
            connection.execute(delete(instance_states))
            connection.execute(delete(instances))
    else:
        raise TypeError(f"no instance index to forget in {type(store).__name__}")


def indexed_states(store: ProcessStore) -> int:
    """How many machine instance states the index holds, in every category."""
    if isinstance(store, MemoryStore):
        with store._lock:
            return sum(len(ids) for row in store._instances.values() for ids in row.states.values())
    if isinstance(store, SqlStore):
        with store._engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(instance_states)).scalar_one()
            )
    raise TypeError(f"no instance index in {type(store).__name__}")


def first_outcome(module: Any, task: TaskInFlight, failed: str | None = None) -> Any:
    """What a worker reports of ``task``'s first attempt: completed, or failed for ``failed``."""
    attempt = {
        "machine": task.machine,
        "machine_id": task.machine_id,
        "task_id": task.task_id,
        "transition": task.transition,
        "attempt": 1,
    }
    if failed is None:
        return module.TaskCompleted(**attempt)
    return module.TaskFailed(**attempt, reason=failed)
