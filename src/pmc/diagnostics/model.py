from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pmc.diagnostics.codes import CODES
from pmc.source import Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary span with a short note (``first declared here``)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a source file.

    ``label`` is the short text printed under the primary caret; ``notes`` are
    printed as ``= note:`` lines and ``help`` as a ``= help:`` line.
    """

    code: str
    message: str
    span: Span
    label: str = ""
    secondary: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    help: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code}")

    @property
    def severity(self) -> Severity:
        return Severity(CODES[self.code].severity)

    @property
    def sort_key(self) -> tuple[int, int, str, str]:
        return (self.span.line, self.span.column, self.code, self.message)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
