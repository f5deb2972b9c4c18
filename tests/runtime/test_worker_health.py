"""A worker's health (``Worker.healthy``, served as ``/healthz``): running and claiming."""

from __future__ import annotations

from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import ProcessStore
from pmc.runtime.worker import Worker
from tests.runtime.support import Passing, RebaseTasks, definition, seed, wait_until


class RefusesClaims(Passing):
    """A store that refuses every claim (a revoked grant, say) until ``refusing`` is cleared."""

    def __init__(self, store: ProcessStore) -> None:
        super().__init__(store)
        self.refusing = True
        self.refused = 0

    def _refuse(self) -> None:
        if self.refusing:
            self.refused += 1
            raise RuntimeError("permission denied for table pmc_work")

    def claim_and_append(self, *args: object, **kwargs: object) -> object:
        self._refuse()
        return self._store.claim_and_append(*args, **kwargs)  # type: ignore[arg-type]

    def claim_due(self, *args: object, **kwargs: object) -> object:
        self._refuse()
        return self._store.claim_due(*args, **kwargs)  # type: ignore[arg-type]


def test_a_worker_whose_claims_fail_is_unhealthy_until_a_claim_succeeds(
    store: ProcessStore,
) -> None:
    m = seed()
    ProcessManager(definition(m), store).handle(m.RebaseFailed(rebase_id="r1", instances=["A"]))
    refusing = RefusesClaims(store)
    tasks = RebaseTasks()
    worker = Worker(definition(m), refusing, tasks, idle_wait=0.01)  # type: ignore[arg-type]
    worker.start()
    try:
        wait_until(lambda: refusing.refused >= 3)
        assert not worker.healthy  # running, but claiming nothing

        refusing.refusing = False
        wait_until(lambda: tasks.calls.of("CloseInstance") == [("A", 1)])
        wait_until(lambda: worker.healthy)
    finally:
        worker.stop(1.0)
