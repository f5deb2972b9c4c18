"""A Language Server client for tests: ``pmc lsp`` in a subprocess, JSON-RPC over its stdio.

Written by hand rather than taken from pygls so that the tests check the
bytes an editor exchanges with the server: the ``Content-Length`` framing, the
method names and the JSON of every message.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# How long to wait for one answer before the test fails instead of hanging:
# a guard against a dead server, not a measure of speed.
PATIENCE_SECONDS = 30


def _read_messages(stream: IO[bytes], inbox: queue.Queue[dict[str, Any] | None]) -> None:
    while True:
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("ascii").partition(":")
            headers[name.strip().lower()] = value.strip()
        if not headers:
            inbox.put(None)  # the server closed its output
            return
        inbox.put(json.loads(stream.read(int(headers["content-length"]))))


class LspClient:
    """Sends requests and notifications; keeps the server's notifications for the test to read."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self.notifications: list[dict[str, Any]] = []
        threading.Thread(
            target=_read_messages, args=(process.stdout, self._inbox), daemon=True
        ).start()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self._stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self._stdin.flush()

    def _receive(self) -> dict[str, Any]:
        message = self._inbox.get(timeout=PATIENCE_SECONDS)
        assert message is not None, "the server closed its output"
        return message

    def _response(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The response to ``method``; notifications arriving meanwhile are kept."""
        self._next_id += 1
        self._send({"id": self._next_id, "method": method, "params": params})
        while True:
            message = self._receive()
            if message.get("id") == self._next_id and "method" not in message:
                return message
            if "method" in message:
                self.notifications.append(message)

    def request(self, method: str, params: dict[str, Any]) -> Any:
        """The result of ``method``, which must not fail."""
        response = self._response(method, params)
        assert "error" not in response, response["error"]
        return response.get("result")

    def error(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The error ``method`` fails with (``code`` and ``message``)."""
        response = self._response(method, params)
        assert "error" in response, response
        return dict(response["error"])

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def next_notification(self, method: str) -> dict[str, Any]:
        """The params of the next notification of ``method`` (kept ones first)."""
        for kept in self.notifications:
            if kept["method"] == method:
                self.notifications.remove(kept)
                return dict(kept["params"])
        while True:
            message = self._receive()
            if message.get("method") == method:
                return dict(message["params"])
            if "method" in message:
                self.notifications.append(message)

    # ---- the conversation of an editor --------------------------------------------

    def open(self, uri: str, text: str) -> list[dict[str, Any]]:
        """Open a document; its diagnostics, as published."""
        document = {"uri": uri, "languageId": "pm", "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": document})
        return self.diagnostics(uri)

    def change(self, uri: str, version: int, text: str) -> list[dict[str, Any]]:
        """Replace a document's whole text; its diagnostics, as published."""
        self.send_change(uri, version, text)
        return self.diagnostics(uri)

    def send_change(self, uri: str, version: int, text: str) -> None:
        """Replace a document's whole text, without waiting for its diagnostics."""
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": text}],
            },
        )

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        return list(self.published(uri)["diagnostics"])

    def published(self, uri: str) -> dict[str, Any]:
        """The next ``publishDiagnostics`` (its ``version`` and ``diagnostics``) for ``uri``."""
        params = self.next_notification("textDocument/publishDiagnostics")
        assert params["uri"] == uri
        return params

    def at(self, method: str, uri: str, line: int, character: int, **extra: Any) -> Any:
        """A request about one position (0-based line and UTF-16 column, as LSP counts)."""
        position = {"line": line, "character": character}
        return self.request(method, {"textDocument": {"uri": uri}, "position": position, **extra})


@contextmanager
def running_server(
    root: Path,
    capabilities: dict[str, Any] | None = None,
    command: list[str] | None = None,
) -> Iterator[LspClient]:
    """``pmc lsp`` (or ``command``) started, initialized with ``root`` as its workspace,
    and shut down after."""
    process = subprocess.Popen(
        command or [sys.executable, "-m", "pmc", "lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    client = LspClient(process)
    try:
        client.request(
            "initialize",
            {"processId": None, "rootUri": root.as_uri(), "capabilities": capabilities or {}},
        )
        client.notify("initialized", {})
        yield client
        client.request("shutdown", {})
        client.notify("exit", {})
        process.wait(timeout=PATIENCE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
