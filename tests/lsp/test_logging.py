"""What the server writes to its log (an editor's output panel): faults, not answers."""

from __future__ import annotations

import logging

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from pmc.lsp.server import create_server

PYGLS = logging.getLogger("pygls.protocol.json_rpc")


def logged_while_pygls_handles(error: JsonRpcException) -> logging.LogRecord:
    """The record pygls logs for ``error`` raised by a handler (``logger.exception``)."""
    create_server("test")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    PYGLS.addHandler(keep)
    try:
        try:
            raise error
        except JsonRpcException:
            PYGLS.exception('Exception occurred for message "%s"', 7)
    finally:
        PYGLS.removeHandler(keep)
    (record,) = records
    return record


def test_a_refused_rename_is_one_line_of_information_not_a_traceback() -> None:
    refused = JsonRpcException("'a b' is not a name", types.LSPErrorCodes.RequestFailed)

    record = logged_while_pygls_handles(refused)

    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert record.getMessage() == "request refused: 'a b' is not a name"


@pytest.mark.parametrize("code", [types.ErrorCodes.InternalError, types.ErrorCodes.InvalidParams])
def test_a_fault_keeps_its_traceback(code: int) -> None:
    record = logged_while_pygls_handles(JsonRpcException("boom", code))

    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
