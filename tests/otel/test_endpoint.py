"""The worker's HTTP endpoint (``pmc.otel.endpoint``), served in this process."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager

import pytest

from pmc.otel.endpoint import MAX_REQUESTS, Endpoint, prometheus_meters, serve
from tests.runtime.support import wait_until


@contextmanager
def serving(
    host: str = "127.0.0.1", healthy: Callable[[], bool] = lambda: True
) -> Iterator[Endpoint]:
    _, registry = prometheus_meters()
    endpoint = serve(host, 0, registry, healthy)
    try:
        yield endpoint
    finally:
        endpoint.close()


def request(endpoint: Endpoint, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = endpoint.address
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def status_of(endpoint: Endpoint, path: str) -> int:
    """The status of ``GET path``; 0 if the connection was closed unanswered."""
    try:
        return request(endpoint, "GET", path)[0]
    except OSError:
        return 0


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_the_endpoint_listens_on_an_ipv6_address_with_or_without_brackets(host: str) -> None:
    with serving(host) as endpoint:
        status, _, body = request(endpoint, "GET", "/healthz")

    assert endpoint.address[0] == "::1"
    assert endpoint.url == f"http://[::1]:{endpoint.address[1]}"
    assert (status, body) == (200, b"ok\n")


def test_head_healthz_answers_the_status_without_a_body() -> None:
    with serving(healthy=lambda: False) as endpoint:
        status, headers, body = request(endpoint, "HEAD", "/healthz")

    assert (status, body) == (503, b"")
    assert headers["Content-Length"] == str(len(b"not healthy\n"))


def test_the_server_header_names_pmc_without_the_python_version() -> None:
    with serving() as endpoint:
        _, headers, _ = request(endpoint, "GET", "/metrics")

    assert headers["Server"] == "pmc"


def test_connections_beyond_the_requests_served_at_once_are_closed_unanswered() -> None:
    with serving() as endpoint, ExitStack() as idle:
        # Connections that send nothing hold every request slot.
        holding = [
            idle.enter_context(closing(socket.create_connection(endpoint.address)))
            for _ in range(MAX_REQUESTS)
        ]
        with closing(socket.create_connection(endpoint.address)) as extra:
            extra.settimeout(10)
            refused = extra.recv(1024)
        for connection in holding:
            connection.close()
        wait_until(lambda: status_of(endpoint, "/healthz") == 200)

    assert refused == b""
