"""The instance filters an operator writes as text: a duration (``1h30m``) and ``Machine.State``.

``pmc ps`` reads them from its options and the inspector (``pmc ui``) from
its list page's query string: one grammar, one set of messages, each naming
the filter as its caller calls it (``--stuck-for``, ``stuck-for``). ``show``
turns the text into what the caller may print: the CLI escapes terminal
controls, the inspector's templates escape HTML themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pmc.errors import PmcError

Show = Callable[[str], str]

_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Further back than any instance, and than dates go.
_LONGEST = timedelta(days=36_525)


class FilterError(PmcError, ValueError):
    """A filter's text that says nothing it could select; ``help`` says how to write it."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


def _as_is(text: str) -> str:
    return text


def is_duration(text: str) -> bool:
    """Whether ``text`` is written as a duration (``1h30m``), whatever its value."""
    parts = _DURATION_PART.findall(text)
    return bool(parts) and "".join(n + unit for n, unit in parts) == text


def parse_duration(text: str, name: str, show: Show = _as_is) -> timedelta:
    """``90s``, ``10m``, ``2h``, ``1d`` or a sum of them (``1h30m``); positive."""
    parts = _DURATION_PART.findall(text)
    if not is_duration(text):
        raise FilterError(
            f"{name}: `{show(text)}` is not a duration",
            help="write it as 90s, 10m, 2h, 1d or 1h30m",
        )
    try:
        total = sum((timedelta(**{_UNITS[unit]: int(n)}) for n, unit in parts), timedelta())
    except OverflowError:
        total = timedelta.max
    if total <= timedelta(0):
        raise FilterError(f"{name} must be longer than 0s")
    if total > _LONGEST:
        raise FilterError(
            f"{name}: `{show(text)}` is longer than 100 years",
            help="no instance is that old; write a shorter duration",
        )
    return total


def parse_time(text: str, name: str, now: datetime, show: Show = _as_is) -> datetime:
    """An ISO 8601 time (without an offset: UTC), or a duration before ``now``."""
    if is_duration(text):
        return now - parse_duration(text, name, show)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(
            f"{name}: `{show(text)}` is neither a time nor a duration",
            help="write a time as 2026-12-07T09:30:00Z (UTC unless it names its offset),"
            " or a duration ago as 90s, 10m, 2h, 1d or 1h30m",
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_machine_state(text: str, name: str, show: Show = _as_is) -> tuple[str, str]:
    """``Order.Shipping`` as ``("Order", "Shipping")``; whether they exist is the caller's check."""
    machine, dot, state = text.partition(".")
    if not (machine and dot and state):
        raise FilterError(
            f"{name}: `{show(text)}` names no state",
            help=f"write it as MACHINE.STATE, e.g. {name} Order.Shipping",
        )
    return machine, state
