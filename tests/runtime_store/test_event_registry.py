"""One event registry serves every thread of the process (``SharedEventRegistry``).

event-sourcery builds a registry by walking every ``Event`` subclass the
process has defined. A registry per thread made each new thread's first write
pay that walk inside its transaction: with thousands of event classes loaded,
a lease renewal on a fresh thread held the SQLite write lock for half a second
and let healthy attempts time out.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from event_sourcery import Event
from event_sourcery.event import EventRegistry

from pmc.runtime.stores import NewEvent, ProcessStore
from pmc.runtime.stores._events import SharedEventRegistry
from tests.runtime_store.events import ItemAdded

THREADS = 8
CLASSES_PER_THREAD = 40


def fresh_event_classes(prefix: str, count: int) -> list[type[Event]]:
    return [
        type(f"Fresh{n}", (Event,), {"__event_name__": f"pmc_test_registry.{prefix}.Fresh{n}"})
        for n in range(count)
    ]


@pytest.fixture
def registries_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EventRegistry]]:
    """Every event registry built from now on."""
    built: list[EventRegistry] = []
    original = EventRegistry.__init__

    def counting_init(self: EventRegistry) -> None:
        built.append(self)
        original(self)

    monkeypatch.setattr(EventRegistry, "__init__", counting_init)
    yield built


def test_a_class_defined_after_the_registry_is_named_on_first_use() -> None:
    registry = SharedEventRegistry()
    (late,) = fresh_event_classes("late", 1)

    assert registry.name_for_type(late) == "pmc_test_registry.late.Fresh0"
    assert registry.type_for_name("pmc_test_registry.late.Fresh0") is late


def test_threads_naming_new_classes_at_once_each_get_their_names() -> None:
    registry = SharedEventRegistry()
    # Defined after the registry: every first lookup is a miss that registers.
    classes = fresh_event_classes("together", THREADS * CLASSES_PER_THREAD)
    barrier = threading.Barrier(THREADS)
    named: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def name_all(index: int) -> None:
        barrier.wait()
        try:
            # Every thread names every class, each in its own order.
            order = classes[index:] + classes[:index]
            named[index] = [registry.name_for_type(cls) for cls in order]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=name_all, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for index, names in named.items():
        order = classes[index:] + classes[:index]
        assert names == [f"pmc_test_registry.together.{cls.__name__}" for cls in order]


def test_a_new_thread_writes_and_reads_without_building_a_registry(
    store: ProcessStore, registries_built: list[EventRegistry]
) -> None:
    store.append("Cleanup", "warm", [NewEvent(ItemAdded(item="x"), uuid.uuid4())], 0)
    outcomes: list[object] = []

    def write_and_read() -> None:
        store.append("Cleanup", "fresh", [NewEvent(ItemAdded(item="y"), uuid.uuid4())], 0)
        outcomes.append(store.load("Cleanup", "fresh")[0].event)

    thread = threading.Thread(target=write_and_read)
    thread.start()
    thread.join()

    assert outcomes == [ItemAdded(item="y")]
    assert registries_built == []
