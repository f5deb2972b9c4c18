"""How a ``.pm`` file spells a string.

Its own module, not the printer's: semantics quotes strings in messages, and
`pmc check` need not load the printer for that (start-up, issue 11).
"""

from __future__ import annotations

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(value: str) -> str:
    """The canonical spelling of a string: double quotes, five escapes, the rest as is."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
