"""The operator events: defined by the runtime for every process, of any runtime API."""

from __future__ import annotations

from pmc.compiler import compile_source
from pmc.naming import OPERATOR_EVENTS
from pmc.runtime import End, ProcessDefinition, ProcessManager
from pmc.runtime.operations import Operations
from pmc.runtime.operator import OperatorEventBase
from pmc.runtime.stores import open_store
from pmc.source import SourceFile
from tests.codegen.support import compile_text, import_code
from tests.compat.support import released_module
from tests.operations.support import DESK_SOURCE, desk_definition
from tests.runtime.support import snapshot


def test_each_process_has_its_operator_events_named_like_its_lifecycle_events() -> None:
    events = desk_definition().operator_events.all()

    assert [e.__event_name__ for e in events] == [f"OpDesk.{name}" for name in OPERATOR_EVENTS]
    assert all(issubclass(e, OperatorEventBase) for e in events)
    # The recorder takes them as the process's own lifecycle events.
    assert set(events) <= set(desk_definition().lifecycle_classes())


def test_a_process_defined_twice_shares_one_class_per_stored_name() -> None:
    # event-sourcery loads a stored name as the first class registered under it.
    again: ProcessDefinition = import_code(compile_text(DESK_SOURCE)).DEFINITION

    assert type(again) is not type(desk_definition())
    assert again.operator_events == desk_definition().operator_events


def test_a_module_generated_by_pmc_0_1_0_can_be_operated() -> None:
    module = released_module("v0_1_0", "rebase_cleanup")
    definition: ProcessDefinition = module.DEFINITION
    store = open_store("memory://")
    manager = ProcessManager(definition, store)
    manager.handle(module.RebaseFailed(rebase_id="r1", instances=["i1"]))

    result = Operations(definition, store).move(
        "r1", "Instance", "i1", "Closed", by="ann", reason="closed by hand"
    )

    assert [e.name for e in result.events] == [
        "RebaseCleanup.OperatorMoved",
        "RebaseCleanup.ProcessCompleted",
    ]
    assert manager.state("r1").end is End.COMPLETED
    assert snapshot(manager.replay("r1")) == snapshot(manager.state("r1"))


def test_an_event_may_not_take_the_name_of_an_operator_event() -> None:
    source = DESK_SOURCE.replace("event Answered {", "event OperatorMoved {").replace(
        "on Answered", "on OperatorMoved"
    )

    result = compile_source(SourceFile("desk.pm", source))

    assert result.code is None
    assert [(d.id, d.message) for d in result.diagnostics] == [
        ("PM0701", "event name `OperatorMoved` collides with an operator event")
    ]
