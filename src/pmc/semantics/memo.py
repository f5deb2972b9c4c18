"""``MachineMemo``: the analysis of each machine, kept while neither it nor what it reads changes.

Semantics analyses each machine on its own (:func:`~pmc.semantics.machines.analyze_machine`,
a pure function of the machine's tree and the process's :class:`~pmc.semantics.scope.Scope`),
and in a large file that is most of the work. The editor analyses a new text
on every keystroke, where one machine at most has changed: the memo returns
the result of the last analysis of a machine whose tree and whose view of
the scope are equal to the ones asked about.

What a machine reads of the scope: the process's name, the key's type, the
events, signals, tasks and process data (each with its declaration, spans
included), and which names are machines. Trees and tables are compared by
value; the editor's incremental parser hands unchanged blocks back as the
same objects, so comparing them takes no time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pmc.semantics.declarations import EventInfo, FieldInfo, TaskInfo
from pmc.semantics.machines import MachineResult, analyze_machine
from pmc.semantics.model import ValueType
from pmc.semantics.scope import Scope
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class _Reads:
    """Everything :func:`analyze_machine` reads: the machine and its view of the scope."""

    machine: ast.MachineDecl
    process: str
    key_type: ValueType | None
    events: Mapping[str, EventInfo]
    signals: Mapping[str, EventInfo]
    tasks: Mapping[str, TaskInfo]
    data: Mapping[str, FieldInfo]
    machines: frozenset[str]


def _reads(machine: ast.MachineDecl, scope: Scope) -> _Reads:
    declarations = scope.declarations
    return _Reads(
        machine,
        scope.process,
        scope.key_type,
        declarations.events,
        declarations.signals,
        declarations.tasks,
        declarations.data,
        frozenset(declarations.machines),
    )


class MachineMemo:
    """:func:`analyze_machine`, remembering the last analysis of each machine by its name.

    One per document. It keeps one result per machine name, each stored
    together with what it was computed from, so two threads analysing at
    once at worst miss it; :meth:`keep_only` drops the machines a new text
    no longer declares (each name typed on the way to a new one, say).
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[_Reads, MachineResult]] = {}

    def __call__(self, machine: ast.MachineDecl, scope: Scope) -> MachineResult:
        reads = _reads(machine, scope)
        kept = self._last.get(machine.name.text)
        if kept is not None and kept[0] == reads:
            return kept[1]
        result = analyze_machine(machine, scope)
        self._last[machine.name.text] = (reads, result)
        return result

    def keep_only(self, names: Iterable[str]) -> None:
        kept = {name: self._last[name] for name in names if name in self._last}
        self._last = kept


__all__ = ["MachineMemo"]
