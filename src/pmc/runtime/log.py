"""Structured log records of the runtime.

Every record carries its facts as ``extra`` fields prefixed with ``pmc_``
(``pmc_category``, ``pmc_key``, ``pmc_task_id``, ...), so a JSON formatter or
a log shipper can index them; the prefix keeps them clear of the attributes
``logging.LogRecord`` already has (``process``, ``thread``, ...). The message
repeats the essentials for people reading plain text.

The records of a decision and of a task attempt are written here, the same
whoever made them (an inline sync run or a worker).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Protocol

from event_sourcery import Event

from pmc.runtime.results import AttemptReport, HandleResult
from pmc.runtime.state import TaskInFlight

logger = logging.getLogger("pmc.runtime")

FIELD_PREFIX = "pmc_"


def fields(**values: object) -> dict[str, object]:
    """``extra=`` for a record: the values under their ``pmc_`` names."""
    return {f"{FIELD_PREFIX}{name}": value for name, value in values.items()}


def record_fields(record: logging.LogRecord) -> Mapping[str, object]:
    """The ``pmc_`` fields of a record, without the prefix, in the order they were given."""
    return {
        name.removeprefix(FIELD_PREFIX): value
        for name, value in vars(record).items()
        if name.startswith(FIELD_PREFIX)
    }


class FieldsFormatter(logging.Formatter):
    """Plain text with the structured fields appended as ``name=value``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{name}={value}" for name, value in record_fields(record).items())
        return f"{text} [{extra}]" if extra else text


# ---- the runtime's records ---------------------------------------------------------------


def log_decision(result: HandleResult, event: Event) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return  # one per handled event: nothing is built for a record nobody keeps
    names = [type(decision).__name__ for decision in result.decisions]
    logger.info(
        "%s/%s v%d: %s %s%s",
        result.category,
        result.key,
        result.version,
        type(event).__name__,
        result.status,
        f" -> {', '.join(names)}" if names else "",
        extra=fields(
            category=result.category,
            key=result.key,
            event=type(event).__name__,
            event_id=str(result.event_id),
            status=str(result.status),
            version=result.version,
            decisions=names,
        ),
    )


def log_attempt(
    what: str,
    category: str,
    key: str,
    task: TaskInFlight,
    worker: str,
    level: int = logging.INFO,
) -> None:
    _log_task(level, category, key, task, worker, what, outcome=what)


def log_report(report: AttemptReport) -> None:
    _log_task(
        logging.INFO if report.outcome == "completed" else logging.WARNING,
        report.category,
        report.key,
        report,
        report.worker,
        report.describe(),
        outcome=report.outcome,
        reason=report.reason,
        retry_scheduled=report.retry_scheduled,
        permanent=report.permanent,
        timed_out=report.timed_out,
        recorded=str(report.recorded.status),
    )


class _Attempt(Protocol):
    """An attempt of a task, as a ``TaskInFlight`` or a ``TaskReport`` names it."""

    @property
    def task(self) -> str: ...
    @property
    def task_id(self) -> uuid.UUID: ...
    @property
    def machine(self) -> str: ...
    @property
    def machine_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...


def _log_task(
    level: int,
    category: str,
    key: str,
    attempt: _Attempt,
    worker: str,
    what: str,
    **more: object,
) -> None:
    """One record on an attempt of a task: ``Orders/o1: Charge Pay attempt 1 completed``."""
    logger.log(
        level,
        "%s/%s: %s %s attempt %d %s",
        category,
        key,
        attempt.task,
        _machine_name(attempt.machine, attempt.machine_id),
        attempt.attempt,
        what,
        extra=fields(
            category=category,
            key=key,
            task=attempt.task,
            task_id=str(attempt.task_id),
            machine=attempt.machine,
            machine_id=attempt.machine_id,
            attempt=attempt.attempt,
            worker=worker,
            **more,
        ),
    )


def _machine_name(machine: str, machine_id: str) -> str:
    """A machine as log lines name it: ``Pay``, or ``Instance/A`` for an instance.

    A single-instance machine's id is its name: like ``pmc worker``'s
    progress lines, the log does not name it twice (``Pay/Pay``).
    """
    return machine_id if machine_id == machine else f"{machine}/{machine_id}"
