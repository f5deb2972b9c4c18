"""Structured log records of the runtime.

Every record carries its facts as ``extra`` fields prefixed with ``pmc_``
(``pmc_category``, ``pmc_key``, ``pmc_task_id``, ...), so a JSON formatter or
a log shipper can index them; the prefix keeps them clear of the attributes
``logging.LogRecord`` already has (``process``, ``thread``, ...). The message
repeats the essentials for people reading plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

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
