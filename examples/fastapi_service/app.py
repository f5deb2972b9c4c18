"""A webhook service feeding the RebaseCleanup process (examples/rebase_cleanup.pm).

    pmc compile examples/rebase_cleanup.pm
    PYTHONPATH=examples uvicorn --factory fastapi_service.app:main

``POST /webhooks/rebase-failed`` takes a ``RebaseFailed`` as JSON, with the
sender's delivery id in the ``X-Delivery-Id`` header: a redelivery (same id,
same event) is recorded once (``deduplicated``); the same id with another
event, or for another rebase, is refused (409). ``GET /rebases/{rebase_id}``
shows where the process is.
The lifespan runs an ``AsyncWorker`` on the server's event loop, which runs
the ``async def`` task handlers; store calls run in thread pools. See the
README next to this file.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException, Response
from pydantic import ValidationError

from pmc.runtime import TaskContext
from pmc.runtime.aio import AsyncProcessManager, AsyncWorker
from pmc.runtime.manager import ProcessManager
from pmc.runtime.results import HandleStatus
from pmc.runtime.stores import UnstorableValue, open_store


class CloudTasks:
    """The ``RebaseCleanupTasks`` handlers, ``async def``: they run on the server's loop.

    A real one would call the cloud's API with an ``httpx.AsyncClient``,
    passing ``ctx.task_id`` as its idempotency key (a handler may run twice).
    """

    def __init__(self) -> None:
        self.closed: list[str] = []

    async def close_instance(self, task: Any, ctx: TaskContext) -> None:
        self.closed.append(ctx.machine_id)


# The namespace of the stored ids of deliveries (a fixed, random UUID).
DELIVERIES = uuid.UUID("5d7c1f0e-8a61-4c1e-9a57-0b8f3c2d6e41")


def create_app(module: ModuleType, store_url: str, tasks: object | None = None) -> FastAPI:
    """The service for the generated module ``module`` of rebase_cleanup.pm, on ``store_url``."""
    definition = module.DEFINITION
    handlers = CloudTasks() if tasks is None else tasks

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(store_url)
        try:
            manager = ProcessManager(definition, store, with_worker=True)
            async with (
                AsyncProcessManager(manager) as processes,
                AsyncWorker(definition, store, handlers),
            ):
                app.state.processes = processes
                yield
        finally:
            store.close()

    app = FastAPI(title="rebase cleanup", lifespan=lifespan)

    @app.post("/webhooks/rebase-failed", status_code=202)
    async def rebase_failed(
        payload: Annotated[dict[str, Any], Body()],
        x_delivery_id: Annotated[str, Header(min_length=1, max_length=200)],
        response: Response,
    ) -> dict[str, str]:
        try:
            event = module.RebaseFailed.model_validate(payload)
        except ValidationError as error:
            raise HTTPException(422, error.errors(include_url=False)) from error
        # The delivery id is unique per delivery across the whole service, so
        # the stored event's id is derived from it alone (not from it and the
        # stream, as ``handle`` derives it): the store keeps event ids unique
        # across streams, so a delivery id is recorded once, whatever rebase
        # it names. A reuse is a redelivery only if it carries the same event.
        event_id = uuid.uuid5(DELIVERIES, x_delivery_id)
        try:
            result = await app.state.processes.record(event.rebase_id, event, event_id)
        except UnstorableValue as error:  # a key too long, text that is not Unicode
            raise HTTPException(422, str(error)) from error
        if result.status is HandleStatus.DEDUPLICATED and not await _redelivered(event, event_id):
            response.status_code = 409
            return {
                "status": "conflict",
                "detail": f"delivery {x_delivery_id!r} was already received with another event",
            }
        return {"status": result.status.value, "event_id": str(event_id)}

    async def _redelivered(event: Any, event_id: uuid.UUID) -> bool:
        """Whether the rebase's stream holds ``event`` itself under ``event_id``."""
        history = await app.state.processes.history(event.rebase_id)
        return any(stored.event_id == event_id and stored.event == event for stored in history)

    @app.get("/rebases/{rebase_id}")
    async def rebase(rebase_id: str) -> dict[str, Any]:
        try:
            state = await app.state.processes.state(rebase_id)
        except UnstorableValue as error:
            raise HTTPException(422, str(error)) from error
        if not state.version:
            raise HTTPException(404, f"no rebase {rebase_id!r}")
        return {
            "rebase_id": rebase_id,
            "end": None if state.end is None else state.end.value,
            "instances": {name: dict(ids) for name, ids in state.instances.items()},
        }

    return app


def main() -> FastAPI:
    """The app for uvicorn: the module ``pmc compile`` wrote, the store ``PMC_STORE`` names."""
    import rebase_cleanup  # type: ignore[import-not-found]  # generated by `pmc compile`

    return create_app(rebase_cleanup, os.environ.get("PMC_STORE", "sqlite:///rebase_cleanup.db"))
