from __future__ import annotations

import pytest

from pmc.runtime.stores import open_store
from pmc.streams.export import ExportedEvent, export_streams
from tests.replay.support import FixedClock, record_streams


@pytest.fixture(scope="session")
def recorded() -> tuple[ExportedEvent, ...]:
    """The streams BASE records (see ``support.RECORDED_INPUTS``), as exported."""
    store = open_store("memory://", clock=FixedClock())
    record_streams(store)
    return tuple(export_streams(store, "RpCleanup"))
