"""An HTTP endpoint for a worker: its metrics as Prometheus text, and its health.

``GET /metrics``: every metric of ``registry`` in Prometheus' text format.
``GET /healthz``: 200 while ``healthy()`` says so, 503 otherwise. Served
from a daemon thread by the standard library's threading HTTP server, which
is all a scrape every few seconds needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pmc.errors import PmcError


class EndpointError(PmcError):
    """The endpoint could not listen where it was asked to."""


def prometheus_meters() -> tuple[metrics.MeterProvider, CollectorRegistry]:
    """A meter provider whose metrics are read into a registry of their own, for ``/metrics``.

    Not prometheus_client's global registry: two endpoints in one process
    (tests, say) must not see each other's metrics.
    """
    registry = CollectorRegistry(auto_describe=True)
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    return MeterProvider(metric_readers=[reader]), registry


class Endpoint:
    """The running endpoint; ``close()`` stops it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="pmc-metrics", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens: the port is the one the system chose if 0 was asked for."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve(
    host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], bool]
) -> Endpoint:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` until closed."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = healthy()
                status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
                self._answer(status, b"ok\n" if ok else b"stopping or stopped\n")
            else:
                self._answer(HTTPStatus.NOT_FOUND, b"not found: /metrics or /healthz\n")

        def _answer(
            self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # A scrape every few seconds would drown the worker's own output.
            return None

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as error:
        raise EndpointError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    server.daemon_threads = True
    return Endpoint(server)
