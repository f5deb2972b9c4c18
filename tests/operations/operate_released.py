"""Operate a released module: ``python -m tests.operations.operate_released PATH``.

A fresh interpreter, as ``tests/compat/run_released.py`` explains: event-sourcery
registers event classes by their ``__event_name__`` once per process, and the
examples other tests compiled may already hold this module's names. Starts
``r1``, moves its instance ``i1`` to ``Closed`` as an operator, and prints as
JSON the names of the events the move recorded, whether the process ended
completed, and whether replay rebuilds the same state.
"""

from __future__ import annotations

import json
import sys

from pmc.runtime import End
from pmc.runtime.manager import ProcessManager
from pmc.runtime.operations import Operations
from pmc.runtime.stores import open_store
from tests.compat.run_released import import_released
from tests.runtime.support import snapshot


def main(path: str) -> None:
    module = import_released(path)
    store = open_store("memory://")
    manager = ProcessManager(module.DEFINITION, store)
    manager.handle(module.RebaseFailed(rebase_id="r1", instances=["i1"]))
    result = Operations(module.DEFINITION, store).move(
        "r1", "Instance", "i1", "Closed", by="ann", reason="closed by hand"
    )
    print(
        json.dumps(
            {
                "recorded": [event.name for event in result.events],
                "completed": manager.state("r1").end is End.COMPLETED,
                "replays": snapshot(manager.replay("r1")) == snapshot(manager.state("r1")),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
