"""What the machine-level checks need to know about the whole process."""

from __future__ import annotations

from dataclasses import dataclass

from pmc.semantics.declarations import Declarations
from pmc.semantics.model import ValueType


@dataclass(frozen=True, slots=True)
class Scope:
    process: str
    declarations: Declarations
    key_type: ValueType | None  # None: no usable key (already reported)

    def declared_kind(self, name: str) -> str | None:
        """``"event"``, ``"task"``, ``"machine"`` or ``"signal"`` if ``name`` is declared as one."""
        if name in self.declarations.events:
            return "event"
        if name in self.declarations.signals:
            return "signal"
        if name in self.declarations.tasks:
            return "task"
        if name in self.declarations.machines:
            return "machine"
        return None
