"""An HTTP endpoint for a worker: its metrics as Prometheus text, and its health.

``GET /metrics``: every metric of ``registry`` in Prometheus' text format.
``GET /healthz`` (or ``HEAD``): 200 while ``healthy()`` says so, 503
otherwise. Served from a daemon thread by the standard library's threading
HTTP server, which is all a scrape every few seconds needs; at most
``MAX_REQUESTS`` requests at once (more connections are closed unanswered),
each given ``REQUEST_TIMEOUT`` seconds, so that a flood of connections
cannot take the worker's memory.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pmc.errors import PmcError


class EndpointError(PmcError):
    """The endpoint could not listen where it was asked to."""


MAX_REQUESTS = 8  # served at once
REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send its request


class _Server(ThreadingHTTPServer):
    """A threading HTTP server on the address family of its host (IPv4 or IPv6) that
    serves at most ``MAX_REQUESTS`` at once."""

    daemon_threads = True

    def __init__(
        self,
        family: socket.AddressFamily,
        address: tuple[str, int],
        handler: Callable[..., Handler],
    ) -> None:
        self.address_family = family
        self._slots = threading.BoundedSemaphore(MAX_REQUESTS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: closed unanswered, the scraper tries again
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class Handler(BaseHTTPRequestHandler):
    """Answers ``/metrics`` from ``registry`` and ``/healthz`` from ``healthy``."""

    timeout = REQUEST_TIMEOUT
    server_version = "pmc"

    def __init__(
        self, registry: CollectorRegistry, healthy: Callable[[], bool], *connection: Any
    ) -> None:
        self.registry = registry
        self.healthy = healthy
        super().__init__(*connection)  # answers the request

    def version_string(self) -> str:
        # "pmc", without the Python version the default gives away.
        return self.server_version

    def do_GET(self) -> None:
        self._answer(*self._response())

    def do_HEAD(self) -> None:
        self._answer(*self._response(), with_body=False)

    def _response(self) -> tuple[HTTPStatus, bytes, str]:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            return HTTPStatus.OK, generate_latest(self.registry), CONTENT_TYPE_LATEST
        if path == "/healthz":
            if self.healthy():
                return HTTPStatus.OK, b"ok\n", TEXT
            return HTTPStatus.SERVICE_UNAVAILABLE, b"not healthy\n", TEXT
        return HTTPStatus.NOT_FOUND, b"not found: /metrics or /healthz\n", TEXT

    def _answer(
        self, status: HTTPStatus, body: bytes, content_type: str, with_body: bool = True
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # A scrape every few seconds would drown the worker's own output.
        return None


TEXT = "text/plain; charset=utf-8"


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

    @property
    def url(self) -> str:
        """Its base URL (an IPv6 address in brackets)."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve(
    host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], bool]
) -> Endpoint:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` until closed.

    ``host`` is a name or an address, IPv6 ones with or without brackets
    (``::1``, ``[::1]``).
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    answers = partial(Handler, registry, healthy)
    try:
        family = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)[0][0]
        server = _Server(family, (bare, port), answers)
    except OSError as error:
        reason = error.strerror or str(error)
        raise EndpointError(f"cannot serve metrics on {host}:{port}: {reason}") from None
    return Endpoint(server)
