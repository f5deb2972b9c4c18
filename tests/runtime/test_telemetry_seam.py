"""The telemetry seam fails open: what the installed telemetry raises is logged, not raised."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

import pytest

from pmc.runtime import telemetry
from pmc.runtime.stores.api import WorkItem
from tests.fake_clock import T0


class BrokenClaims(telemetry.NoTelemetry):
    """Telemetry with a bug: ``claimed`` raises (an exporter's error, say)."""

    def claimed(self, items: Sequence[WorkItem], now: datetime) -> None:
        raise RuntimeError("a buggy exporter")


@pytest.fixture
def broken() -> Iterator[None]:
    before = telemetry.install(BrokenClaims())
    try:
        yield
    finally:
        telemetry.install(before)


def complaints(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("telemetry claimed failed")]


def test_an_error_of_the_telemetry_is_logged_once_with_its_traceback_not_raised(
    broken: None, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        telemetry.installed().claimed([], T0)

    (logged,) = complaints(caplog)
    assert logged.levelno == logging.ERROR and logged.exc_info is not None
    assert telemetry.installed().carrier() is None  # the other calls still work


def test_the_same_error_is_logged_again_a_minute_later_with_how_often_it_failed(
    broken: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(telemetry.time, "monotonic", lambda: now[0])
    for _ in range(3):
        telemetry.installed().claimed([], T0)
    now[0] += telemetry.COMPLAINT_INTERVAL

    telemetry.installed().claimed([], T0)

    assert [logged.getMessage() for logged in complaints(caplog)][1:] == [
        "telemetry claimed failed 3 times since it was last logged; ignored"
    ]
