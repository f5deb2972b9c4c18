"""The root of every error pmc raises on purpose.

An embedding program catches :class:`PmcError` to handle "any pmc error"
without catching programming errors (``TypeError``, ``KeyError``...) too.
Classes that also subclass a built-in (``ImportError``, ``ValueError``) keep
it, so code written against the older, single-base classes still catches
them.
"""

from __future__ import annotations


class PmcError(Exception):
    """Something pmc refused or could not do, with a message meant for a person."""


class InputError(PmcError):
    """Input from outside cannot be used: a file, a ``MODULE:Process`` target, a store URL.

    ``path`` names the input as diagnostics name it, when it is a file.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
