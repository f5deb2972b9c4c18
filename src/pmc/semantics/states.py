"""A machine's states: the `states`, `initial` and `final` clauses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pmc.diagnostics import Diagnostic
from pmc.diagnostics.suggest import did_you_mean
from pmc.naming import state_enum_name
from pmc.semantics.declarations import duplicate_clauses, identifier_diagnostics
from pmc.semantics.duplicates import duplicates
from pmc.syntax import ast


@dataclass(frozen=True, slots=True)
class StateTable:
    machine: str
    declared: Mapping[str, ast.Name]  # first declaration of each state, in order
    initial: str | None
    finals: tuple[str, ...]
    resolved: bool  # states, initial and finals all resolved

    def non_final(self) -> tuple[str, ...]:
        finals = frozenset(self.finals)
        return tuple(s for s in self.declared if s not in finals)

    def unknown(self, name: ast.Name) -> Diagnostic:
        return Diagnostic(
            "PM0203",
            f"unknown state `{name.text}`",
            name.span,
            label=f"not declared in machine `{self.machine}`",
            help=did_you_mean(name.text, self.declared),
        )


# A state becomes a member of the machine's `StrEnum`: enum refuses `mro`, and
# a member named like a `str` method fails type checking of the generated module.
ENUM_RESERVED = frozenset({"mro"} | {name for name in dir(str) if not name.startswith("_")})


def state_name_diagnostics(state: ast.Name, machine: str) -> Iterator[Diagnostic]:
    found = list(identifier_diagnostics(state, "state"))
    yield from found
    if not found and state.text in ENUM_RESERVED:
        yield Diagnostic(
            "PM0105",
            f"invalid state name `{state.text}`",
            state.span,
            label=f"is an attribute of `str`, which the enum `{state_enum_name(machine)}` extends",
            help="rename the state; names are never changed silently",
        )


def resolve_states(machine: ast.MachineDecl) -> tuple[StateTable, list[Diagnostic]]:
    name = machine.name.text
    names = [n for clause in machine.states_clauses for n in clause.names]
    diagnostics: list[Diagnostic] = []
    for state in names:
        diagnostics.extend(state_name_diagnostics(state, name))
    diagnostics.extend(
        duplicates(
            names,
            lambda n: n.text,
            lambda n: n.span,
            "PM0102",
            lambda s: f"duplicate state `{s}` in machine `{name}`",
        )
    )
    declared: dict[str, ast.Name] = {}
    for state in names:
        declared.setdefault(state.text, state)
    if not declared:
        diagnostics.append(
            Diagnostic(
                "PM0302",
                f"machine `{name}` declares no states",
                machine.name.span,
                label="no `states` clause",
                help="declare its states, e.g. `states Waiting, Done`",
            )
        )
        return StateTable(name, declared, None, (), False), diagnostics
    table = StateTable(name, declared, None, (), False)
    initial, initial_found = _initial(machine, table)
    finals, finals_found = _finals(machine, table)
    diagnostics += initial_found + finals_found
    resolved = initial is not None and bool(finals) and not finals_found
    return StateTable(name, declared, initial, finals, resolved), diagnostics


def _initial(machine: ast.MachineDecl, table: StateTable) -> tuple[str | None, list[Diagnostic]]:
    clauses = machine.initial_clauses
    found = list(duplicate_clauses(clauses, f"`initial` clause in machine `{table.machine}`"))
    if not clauses:
        first = next(iter(table.declared))
        found.append(
            Diagnostic(
                "PM0301",
                f"machine `{table.machine}` has no initial state",
                machine.name.span,
                label="no `initial` clause",
                help=f"name the state new instances start in, e.g. `initial {first}`",
            )
        )
        return None, found
    state = clauses[0].state
    if state.text not in table.declared:
        found.append(
            Diagnostic(
                "PM0301",
                f"initial state `{state.text}` is not a declared state",
                state.span,
                label=f"not declared in machine `{table.machine}`",
                help=did_you_mean(state.text, table.declared),
            )
        )
        return None, found
    return state.text, found


def _finals(
    machine: ast.MachineDecl, table: StateTable
) -> tuple[tuple[str, ...], list[Diagnostic]]:
    names = [n for clause in machine.final_clauses for n in clause.states]
    found = [table.unknown(n) for n in names if n.text not in table.declared]
    finals = tuple(dict.fromkeys(n.text for n in names if n.text in table.declared))
    if not names:
        found.append(
            Diagnostic(
                "PM0305",
                f"machine `{table.machine}` declares no final state",
                machine.name.span,
                label="no `final` clause",
                help="name the states where an instance is done, e.g. `final Done`",
                notes=("without a final state an instance can never finish",),
            )
        )
    return finals, found
