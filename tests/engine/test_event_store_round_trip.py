"""Generated events are stored by event-sourcery under their stable names and fold back."""

from __future__ import annotations

from event_sourcery import StreamId
from event_sourcery.backend import InMemoryBackend

from tests.codegen.support import compile_and_import
from tests.engine.scenario import Scenario
from tests.engine.test_seed_scenario import REBASE_CLEANUP

# event-sourcery registers one class per ``__event_name__`` for the whole
# interpreter, so this test compiles the process under a name of its own.
STORED = REBASE_CLEANUP.replace("process RebaseCleanup", "process StoredCleanup")


def test_a_stream_read_back_from_the_store_folds_to_the_same_state() -> None:
    m = compile_and_import(STORED)
    s = Scenario(m).given(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
    s.given(s.completed(s.planned("A", "close")), s.failed(s.planned("B", "close")))
    store = InMemoryBackend().configure().event_store
    stream = StreamId(name="r1", category=m.DEFINITION.category)

    store.append(*s.stream, stream_id=stream)
    loaded = [wrapped.event for wrapped in store.load_stream(stream)]

    assert [type(e) for e in loaded] == [type(e) for e in s.stream]
    assert loaded[1].__event_name__ == "StoredCleanup.TransitionPlanned"
    assert m.DEFINITION.fold(loaded) == s.state
