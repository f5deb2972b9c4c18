"""The operator events: defined by the runtime for every process, of any runtime API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pmc.runtime import End, ProcessDefinition, ProcessManager
from pmc.runtime.operations import Operations
from pmc.runtime.operator import OperatorEventBase
from pmc.runtime.stores import open_store
from tests.codegen.support import compile_text, import_code
from tests.compat.support import fixture_paths
from tests.operations.support import DESK_SOURCE, desk_definition


def test_each_process_has_its_operator_events_named_like_its_lifecycle_events() -> None:
    events = desk_definition().operator_events.all()

    # ``pmc:`` is in no generated name: no event of a process can take these.
    assert [e.__event_name__ for e in events] == [
        "OpDesk.pmc:OperatorCancelled",
        "OpDesk.pmc:OperatorRetried",
        "OpDesk.pmc:OperatorFiredTimer",
        "OpDesk.pmc:OperatorMoved",
    ]
    assert all(issubclass(e, OperatorEventBase) for e in events)
    # The recorder takes them as the process's own lifecycle events.
    assert set(events) <= set(desk_definition().lifecycle_classes())


def test_a_process_defined_twice_shares_one_class_per_stored_name() -> None:
    # event-sourcery loads a stored name as the first class registered under it.
    again: ProcessDefinition = import_code(compile_text(DESK_SOURCE)).DEFINITION

    assert type(again) is not type(desk_definition())
    assert again.operator_events == desk_definition().operator_events


def test_a_module_generated_by_pmc_0_1_0_can_be_operated() -> None:
    # In a fresh interpreter (see operate_released.py): this session may
    # hold today's rebase_cleanup, whose events have the same names.
    (module,) = [p for p in fixture_paths("v0_1_0") if p.stem == "rebase_cleanup"]
    run = subprocess.run(
        [sys.executable, "-m", "tests.operations.operate_released", str(module)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "recorded": ["RebaseCleanup.pmc:OperatorMoved", "RebaseCleanup.ProcessCompleted"],
        "completed": True,
        "replays": True,
    }


def test_an_event_named_like_an_operator_event_is_stored_apart_from_it() -> None:
    """An event may be named ``OperatorMoved`` (older modules have such events):
    it is stored as ``OpOwnMovedDesk.OperatorMoved``, the operator's move as
    ``OpOwnMovedDesk.pmc:OperatorMoved``; each loads as its own class."""
    source = DESK_SOURCE.replace("process OpDesk", "process OpOwnMovedDesk")
    module = import_code(compile_text(source.replace("Answered", "OperatorMoved")))
    store = open_store("memory://")
    manager = ProcessManager(module.DEFINITION, store)
    manager.handle(module.Opened(ticket_id="t1", hosts=[]))

    Operations(module.DEFINITION, store).move(
        "t1", "Ticket", None, "Escalated", by="ann", reason="no answer"
    )
    manager.handle(module.OperatorMoved(ticket_id="t1"))  # the process's own event

    moved = [type(stored.event) for stored in manager.history("t1")]
    assert module.DEFINITION.operator_events.moved in moved
    assert module.OperatorMoved in moved
    assert manager.state("t1").end is End.COMPLETED
