"""``pmc worker``: run the tasks of a generated process against a store."""

from __future__ import annotations

import logging
import signal
import sys
import time
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from pmc.cli.shared import UsageError, app, resolve
from pmc.cli.stores import STORE_ENV, open_process_store, safe_url
from pmc.runtime.loading import load_tasks
from pmc.runtime.log import FieldsFormatter
from pmc.runtime.results import Report
from pmc.runtime.worker import Worker, WorkerStats

if TYPE_CHECKING:
    from pmc.otel.endpoint import Endpoint

DEFAULT_STORE = "sqlite:///pmc.db"
DEFAULT_METRICS_HOST = "127.0.0.1"
OTEL_EXTRA = "event-sourcery-pmc[otel]"


@app.command()
def worker(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="The generated processes: `module:Class`, or `module` for its DEFINITION; "
            "one worker runs the tasks of all of them.",
            metavar="MODULE[:PROCESS]...",
        ),
    ],
    tasks: Annotated[
        list[str],
        typer.Option(
            "--tasks",
            help="`module:factory`: called without arguments, returns the task handlers. "
            "Once for every process, or once per process in the same order.",
            metavar="MODULE:FACTORY",
        ),
    ],
    store: Annotated[
        str,
        typer.Option(
            "--store", envvar=STORE_ENV, help="The store URL (sqlite:///, postgresql://)."
        ),
    ] = DEFAULT_STORE,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Tasks run at the same time.")
    ] = 1,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            min=1.0,
            help="Lease (seconds) of an attempt of a task without `timeout`; renewed as it runs.",
        ),
    ] = 300.0,
    worker_id: Annotated[
        str | None, typer.Option("--worker-id", help="Name recorded in TaskStarted.")
    ] = None,
    grace: Annotated[
        float, typer.Option("--grace", min=0.0, help="Seconds to let running tasks finish on stop.")
    ] = 30.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every decision and attempt.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve Prometheus metrics at /metrics and health at /healthz on this port "
            "(needs the otel extra).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="The address --metrics-port listens on.")
    ] = DEFAULT_METRICS_HOST,
) -> None:
    """Run the tasks of generated processes until SIGINT or SIGTERM."""
    factories = pair_tasks(targets, tasks)
    # resolve puts the current directory on the path, for --tasks too.
    definitions = [resolve(target) for target in targets]
    handlers = load_handlers(factories)
    process_store = open_process_store(store)
    try:
        running = Worker(
            definitions[0],
            process_store,
            handlers[0],
            worker_id=worker_id,
            concurrency=concurrency,
            lease=timedelta(seconds=lease),
            listener=print_progress,
            also_serve=list(zip(definitions[1:], handlers[1:], strict=True)),
        )
        endpoint = (
            None if metrics_port is None else serve_metrics(metrics_host, metrics_port, running)
        )
    except ValueError as error:
        # A worker id the store cannot record (too long, a control character)
        # came from --worker-id. Handlers without a task's method are a
        # HandlersError, a PmcError: the app reports it.
        process_store.close()
        raise UsageError(str(error)) from None
    except BaseException:
        process_store.close()
        raise
    configure_logging(verbose)
    typer.echo(
        f"pmc worker {running.worker_id}: {', '.join(running.categories)} tasks "
        f"from {safe_url(store)}, "
        f"{concurrency} at a time (Ctrl-C to stop)",
        err=True,
    )
    if endpoint is not None:
        typer.echo(f"metrics at {endpoint.url}/metrics, health at /healthz", err=True)
    stop = stop_on_signals()
    running.start()
    try:
        requested = stop.wait_for_request()
        typer.echo(f"{requested.name}: stopping after the running tasks", err=True)
    finally:
        # /healthz answers 503 while the running attempts finish, then closes.
        finished = running.stop(grace)
        if endpoint is not None:
            endpoint.close()
        process_store.close()
    typer.echo(f"pmc worker {running.worker_id}: stopped; {summary(running.stats)}", err=True)
    if not finished:
        typer.echo("some attempts did not finish; their leases will expire", err=True)


def serve_metrics(host: str, port: int, running: Worker) -> Endpoint:
    """Report the runtime's metrics to a Prometheus endpoint for ``running`` on ``host:port``.

    Spans go to the application's global tracer provider, if its task
    module set one up.
    """
    try:
        from pmc.otel import instrument
        from pmc.otel.endpoint import prometheus_meters, serve
    except ImportError as missing:
        raise UsageError(
            f"--metrics-port needs OpenTelemetry ({missing.name} is not installed): "
            f"pip install '{OTEL_EXTRA}'"
        ) from None
    meters, registry = prometheus_meters()
    instrument(meter_provider=meters).watch_pending(running.store, running.categories)
    return serve(host, port, registry, lambda: running.healthy)


def pair_tasks(targets: list[str], tasks: list[str]) -> list[str]:
    """The ``--tasks`` factory of each process: one for all, or one each in order."""
    if len(tasks) == 1 or len(tasks) == len(targets):
        return tasks * len(targets) if len(tasks) == 1 else tasks
    raise UsageError(
        f"{len(targets)} processes but {len(tasks)} --tasks: "
        "give one --tasks for every process, or one per process in the same order"
    )


def load_handlers(factories: list[str]) -> list[object]:
    """Call each distinct factory once: a factory named for several processes serves all."""
    made: dict[str, object] = {}
    for factory in factories:
        if factory not in made:
            made[factory] = load_tasks(factory)
    return [made[factory] for factory in factories]


# ---- output -------------------------------------------------------------------------


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(message)s"))
    runtime = logging.getLogger("pmc.runtime")
    runtime.addHandler(handler)
    # Warnings always: what an operator must see (a store falling back to
    # polling, threads a stop could not end).
    runtime.setLevel(logging.INFO if verbose else logging.WARNING)


def print_progress(report: Report, stats: WorkerStats) -> None:
    """One line per finished attempt, recorded timeout and fired timer, with the totals."""
    typer.echo(f"{progress_line(report)}  [{summary(stats)}]", err=True)


def progress_line(report: Report) -> str:
    return f"{report.subject()}: {report.describe()}"


def summary(stats: WorkerStats) -> str:
    return (
        f"done {stats.completed}, failed {stats.failed}, retried {stats.retrying}, "
        f"timed out {stats.timed_out}, timers {stats.timers_fired}"
        + (f", late {stats.late}" if stats.late else "")
        + (f", thread crashes {stats.crashes}" if stats.crashes else "")
    )


class StopRequest:
    """SIGINT/SIGTERM ask the worker to stop; a second one stops at once.

    The handler only notes the signal. Python runs it in the main thread
    between any two of its steps, so a lock it took (a ``threading.Event``'s,
    or stderr's) might be held by the very step it interrupted: waiting on an
    ``Event`` that the handler set hung the worker now and then, when the
    signal came as the wait timed out (more often on a busy machine).
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def wait_for_request(self, poll: float = 0.2) -> signal.Signals:
        """The signal that asked to stop, once one has (looked for every ``poll`` seconds)."""
        while self.signum is None:
            time.sleep(poll)  # a signal cuts it short; its handler runs first
        return signal.Signals(self.signum)


def stop_on_signals() -> StopRequest:
    request = StopRequest()
    signal.signal(signal.SIGINT, request.handle)
    signal.signal(signal.SIGTERM, request.handle)
    return request
