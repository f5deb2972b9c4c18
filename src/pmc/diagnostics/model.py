"""One diagnostic model for every command.

A :class:`Diagnostic` names an id of the registry (a compiler code, a breaking
rule or a replay rule) and a location: a span of a source file, or a position
in a recorded stream. The same renderers print all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pmc.diagnostics.registry import RULES, Severity
from pmc.source import Span


@dataclass(frozen=True, slots=True, order=True)
class StreamPosition:
    """One event of a recorded stream: the stream (category, key) and its version.

    ``event`` is the recorded event name, when the finding is about one event.
    """

    category: str
    key: str
    version: int
    event: str | None = None


Location = Span | StreamPosition


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary span with a short note (``first declared here``)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, where it is, and what to do about it.

    ``label`` is the short text printed under the primary caret, ``labels``
    mark other places; ``notes`` are printed as ``= note:`` lines and ``help``
    as a ``= help:`` line. The severity is the registry's for ``id``.
    """

    id: str
    message: str
    location: Location
    label: str = ""
    labels: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    help: str | None = None

    def __post_init__(self) -> None:
        if self.id not in RULES:
            raise ValueError(f"unregistered diagnostic id {self.id}")

    @property
    def severity(self) -> Severity:
        return RULES[self.id].severity

    @property
    def span(self) -> Span:
        """The source span of a diagnostic located in a file."""
        if not isinstance(self.location, Span):
            raise TypeError(f"{self.id} is located in a stream, not a file")
        return self.location

    @property
    def position(self) -> StreamPosition:
        """The stream position of a diagnostic located in a recorded stream."""
        if not isinstance(self.location, StreamPosition):
            raise TypeError(f"{self.id} is located in a file, not a stream")
        return self.location

    @property
    def sort_key(self) -> tuple[int | str, ...]:
        """Reading order: by place (line and column, or stream and version), then id."""
        where = self.location
        place = (
            (where.line, where.column)
            if isinstance(where, Span)
            else (where.category, where.key, where.version)
        )
        return (*place, self.id, self.message)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def plural_word(count: int, word: str) -> str:
    """``word`` as it reads after ``count``: ``step`` or ``steps``; every message's one plural."""
    return word if count == 1 else f"{word}s"
