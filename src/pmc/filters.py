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
from datetime import timedelta

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


def parse_duration(text: str, name: str, show: Show = _as_is) -> timedelta:
    """``90s``, ``10m``, ``2h``, ``1d`` or a sum of them (``1h30m``); positive."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + unit for n, unit in parts) != text:
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
            help="no instance has been stuck that long; write a shorter duration",
        )
    return total


def parse_machine_state(text: str, name: str, show: Show = _as_is) -> tuple[str, str]:
    """``Order.Shipping`` as ``("Order", "Shipping")``; whether they exist is the caller's check."""
    machine, dot, state = text.partition(".")
    if not (machine and dot and state):
        raise FilterError(
            f"{name}: `{show(text)}` names no state",
            help=f"write it as MACHINE.STATE, e.g. {name} Order.Shipping",
        )
    return machine, state
