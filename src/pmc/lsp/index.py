"""Which symbol each name of a ``.pm`` file is: the heart of every editor feature.

:func:`build_index` walks a parsed module once and records, for every name
written in it, the symbol it declares or refers to, resolved by the
language's scoping (the rules :mod:`pmc.semantics` checks): states,
transitions and ``instance.`` fields belong to their machine; events,
tasks, signals, machines and ``data.`` fields to the process; a field to its
event, signal or task; ``event.F`` to the fields of the transition's trigger
(an event's or a signal's fields, a task's result fields on ``completed``).

The index is built from the AST rather than from the semantic model because
the model exists only while the file has no error, and an editor asks about
files with errors all the time. A name that resolves to nothing declared
(an unknown state, a typo) is still recorded, under the symbol it would be:
hover and go-to-definition find nothing there, rename and references still
see every use.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.syntax.printer import literal_text, retry_text, trigger_text, type_text


class Kind(StrEnum):
    PROCESS = "process"
    MACHINE = "machine"
    STATE = "state"
    TRANSITION = "transition"
    EVENT = "event"
    SIGNAL = "signal"
    TASK = "task"
    FIELD = "field"  # of an event, a signal or a task's input
    RESULT = "result"  # a field of a task's `returns`
    DATA = "data"  # `data.F`: the process's data record
    INSTANCE = "instance"  # `instance.F`: a machine instance's data record


@dataclass(frozen=True, slots=True, order=True)
class SymbolId:
    """What a name means: its kind, its owner and its name.

    The owner is the machine of a state, a transition or an instance field,
    the event, signal or task of a field, and '' for what the process owns.
    """

    kind: Kind
    owner: str
    name: str


@dataclass(frozen=True, slots=True)
class FieldScope:
    """Where ``event.F`` of a transition looks ``F`` up: the fields of ``kind`` owned by ``owner``.

    A ``failed`` outcome's only field is ``reason``, declared nowhere: its
    scope is :data:`FAILED_SCOPE`.
    """

    kind: Kind
    owner: str


FAILED_SCOPE = FieldScope(Kind.FIELD, "")


@dataclass(frozen=True, slots=True)
class Symbol:
    id: SymbolId
    span: Span  # the declaring name
    signature: str  # how it is declared, on one or a few lines
    doc: str = ""  # the comment lines right above its declaration
    type: str = ""  # a field's type, as written


@dataclass(frozen=True, slots=True, order=True)
class Occurrence:
    """One name in the file: where, what it means, and whether it declares it."""

    span: Span
    symbol: SymbolId
    declaration: bool = False


@dataclass(frozen=True, slots=True)
class Outline:
    """A node of the document outline: a declaration and the ones inside it."""

    symbol: SymbolId
    span: Span  # the whole declaration
    name_span: Span
    children: tuple[Outline, ...] = ()


@dataclass(frozen=True, slots=True)
class SymbolIndex:
    """Every declared symbol and every name written, in source order."""

    symbols: Mapping[SymbolId, Symbol]
    occurrences: tuple[Occurrence, ...]
    outline: Outline
    # Where `event.F` looks `F` up in each transition (None: its trigger has no fields).
    trigger_fields: Mapping[SymbolId, FieldScope | None]
    _starts: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        starts = tuple((o.span.line, o.span.column) for o in self.occurrences)
        object.__setattr__(self, "_starts", starts)

    def at(self, line: int, column: int) -> Occurrence | None:
        """The name under 1-based (line, column); just after its end counts (a cursor after it)."""
        index = bisect_right(self._starts, (line, column)) - 1
        if index < 0:
            return None
        found = self.occurrences[index]
        return found if (line, column) <= (found.span.end_line, found.span.end_column) else None

    def definition(self, symbol: SymbolId) -> Symbol | None:
        return self.symbols.get(symbol)

    def references(self, symbol: SymbolId) -> tuple[Occurrence, ...]:
        """Every occurrence of ``symbol``, its declaration included."""
        return tuple(o for o in self.occurrences if o.symbol == symbol)

    def declared(self, kind: Kind, owner: str | None = None) -> tuple[Symbol, ...]:
        """The declared symbols of ``kind`` (owned by ``owner`` if given), in source order."""
        return tuple(
            symbol
            for symbol in sorted(self.symbols.values(), key=lambda s: s.span)
            if symbol.id.kind is kind and (owner is None or symbol.id.owner == owner)
        )

    def enclosing(self, kind: Kind, line: int) -> SymbolId | None:
        """The innermost declaration of ``kind`` (a machine, a transition) holding ``line``."""
        found: SymbolId | None = None
        nodes = [self.outline]
        while nodes:
            node = nodes.pop()
            if node.span.line <= line <= node.span.end_line:
                if node.symbol.kind is kind:
                    found = node.symbol
                nodes.extend(node.children)
        return found


def build_index(module: ast.Module, source: SourceFile) -> SymbolIndex:
    """The symbols and names of ``module``, parsed from ``source`` (read for doc comments)."""
    builder = _Builder(module.process, _doc_comments(module.comments, source))
    outline = builder.process()
    return SymbolIndex(
        symbols=dict(builder.symbols),
        occurrences=tuple(sorted(builder.occurrences)),
        outline=outline,
        trigger_fields=dict(builder.trigger_fields),
    )


def _doc_comments(comments: Iterable[ast.Comment], source: SourceFile) -> dict[int, str]:
    """The text of each comment alone on its line, by line (trailing comments document nothing)."""
    return {
        c.span.line: c.text.removeprefix("#").removeprefix(" ")
        for c in comments
        if not source.line_text(c.span.line)[: c.span.column - 1].strip()
    }


def _field_text(item: ast.Field) -> str:
    default = f" = {literal_text(item.default)}" if item.default is not None else ""
    return f"{item.name.text}: {type_text(item.type)}{default}"


def _block(head: str, lines: Sequence[str]) -> str:
    if not lines:
        return f"{head} {{}}"
    return "\n".join([f"{head} {{", *(f"    {line}" for line in lines), "}"])


class _Builder:
    """Collects symbols and occurrences in one walk; the first declaration of a name wins."""

    def __init__(self, process: ast.Process, docs: Mapping[int, str]) -> None:
        self._process = process
        self._docs = docs
        self._signals = {s.name.text for s in process.signals}
        self.symbols: dict[SymbolId, Symbol] = {}
        self.occurrences: list[Occurrence] = []
        self.trigger_fields: dict[SymbolId, FieldScope | None] = {}

    # ---- recording ---------------------------------------------------------------

    def _doc(self, line: int) -> str:
        lines: list[str] = []
        while line - 1 - len(lines) in self._docs:
            lines.append(self._docs[line - 1 - len(lines)])
        return "\n".join(reversed(lines))

    def _declare(
        self, symbol: SymbolId, name: ast.Name, signature: str, start: Span, type_: str = ""
    ) -> None:
        """Record the declaring ``name``; its doc is the comment above ``start``."""
        self.occurrences.append(Occurrence(name.span, symbol, declaration=True))
        if symbol not in self.symbols:
            doc = self._doc(start.line)
            self.symbols[symbol] = Symbol(symbol, name.span, signature, doc, type_)

    def _refer(self, symbol: SymbolId, name: ast.Name) -> None:
        self.occurrences.append(Occurrence(name.span, symbol))

    def _named(self, name: ast.Name) -> SymbolId:
        """An event or a signal: ``on X`` names either, the declarations tell which."""
        kind = Kind.SIGNAL if name.text in self._signals else Kind.EVENT
        return SymbolId(kind, "", name.text)

    # ---- declarations ------------------------------------------------------------------

    def process(self) -> Outline:
        process = self._process
        symbol = SymbolId(Kind.PROCESS, "", process.name.text)
        self._declare(symbol, process.name, f"process {process.name.text}", process.span)
        children: list[Outline] = []
        for declaration in process.declarations:
            children.extend(self._declaration(declaration))
        return Outline(symbol, process.span, process.name.span, tuple(children))

    def _declaration(self, declaration: ast.Declaration) -> list[Outline]:
        match declaration:
            case ast.EventDecl(name=name, fields=fields):
                return [self._record(Kind.EVENT, "event", name, fields, declaration.span)]
            case ast.SignalDecl(name=name, fields=fields):
                return [self._record(Kind.SIGNAL, "signal", name, fields, declaration.span)]
            case ast.TaskDecl():
                return [self._task(declaration)]
            case ast.DataDecl(fields=fields):
                return self._data(Kind.DATA, "", fields)
            case ast.MachineDecl():
                return [self._machine(declaration)]
            case ast.StartOn(events=events) | ast.CancelOn(events=events):
                for event in events:
                    self._refer(SymbolId(Kind.EVENT, "", event.text), event)
            case ast.CompleteWhen(conditions=conditions, data=data):
                self._conditions(conditions, data)
            case ast.FailWhen(conditions=conditions, data=data):
                self._conditions(conditions, data)
            case ast.KeyDecl():
                pass  # names a field of every trigger event, not one symbol
        return []

    def _fields(
        self, kind: Kind, owner: str, fields: Sequence[ast.Field], of: str
    ) -> list[Outline]:
        outline = []
        for item in fields:
            symbol = SymbolId(kind, owner, item.name.text)
            signature = f"{_field_text(item)}\n\n{of}"
            self._declare(symbol, item.name, signature, item.span, type_text(item.type))
            outline.append(Outline(symbol, item.span, item.name.span))
        return outline

    def _record(
        self, kind: Kind, keyword: str, name: ast.Name, fields: Sequence[ast.Field], span: Span
    ) -> Outline:
        symbol = SymbolId(kind, "", name.text)
        signature = _block(f"{keyword} {name.text}", [_field_text(f) for f in fields])
        self._declare(symbol, name, signature, span)
        children = self._fields(Kind.FIELD, name.text, fields, f"field of {keyword} {name.text}")
        return Outline(symbol, span, name.span, tuple(children))

    def _task(self, task: ast.TaskDecl) -> Outline:
        name = task.name.text
        symbol = SymbolId(Kind.TASK, "", name)
        lines = [_field_text(f) for f in task.fields]
        for returns in task.returns:
            lines.append(_block("returns", [_field_text(f) for f in returns.fields]))
        lines.extend(retry_text(r) for r in task.retries)
        lines.extend(f"timeout {t.duration.text}" for t in task.timeouts)
        mode = f" {task.mode.value}" if task.mode else ""
        signature = _block(f"task {name}{mode}", "\n".join(lines).split("\n") if lines else [])
        self._declare(symbol, task.name, signature, task.span)
        children = self._fields(Kind.FIELD, name, task.fields, f"input of task {name}")
        for returns in task.returns:
            of = f"result of task {name}"
            children.extend(self._fields(Kind.RESULT, name, returns.fields, of))
        return Outline(symbol, task.span, task.name.span, tuple(children))

    def _data(self, kind: Kind, machine: str, fields: Sequence[ast.Field]) -> list[Outline]:
        outline = []
        scope = "instance" if kind is Kind.INSTANCE else "data"
        for item in fields:
            symbol = SymbolId(kind, machine, item.name.text)
            of = f"data of each instance of machine {machine}" if machine else "process data"
            signature = f"{scope}.{_field_text(item)}\n\n{of}"
            self._declare(symbol, item.name, signature, item.span, type_text(item.type))
            outline.append(Outline(symbol, item.span, item.name.span))
        return outline

    # ---- machines ----------------------------------------------------------------------

    def _machine(self, machine: ast.MachineDecl) -> Outline:
        name = machine.name.text
        symbol = SymbolId(Kind.MACHINE, "", name)
        initial = {c.state.text for c in machine.initial_clauses}
        final = {s.text for c in machine.final_clauses for s in c.states}
        states = [s for c in machine.states_clauses for s in c.names]
        lines = [f"states {', '.join(s.text for s in states)}"] if states else []
        lines += [f"initial {s}" for s in sorted(initial)]
        lines += [f"final {', '.join(sorted(final))}"] if final else []
        self._declare(symbol, machine.name, _block(f"machine {name}", lines), machine.span)
        children: list[Outline] = []
        for member in machine.members:
            children.extend(self._machine_member(name, member, initial, final))
        return Outline(symbol, machine.span, machine.name.span, tuple(children))

    def _machine_member(
        self, machine: str, member: ast.MachineMember, initial: set[str], final: set[str]
    ) -> list[Outline]:
        match member:
            case ast.DataDecl(fields=fields):
                return self._data(Kind.INSTANCE, machine, fields)
            case ast.StatesClause(names=names):
                outline = []
                for state in names:
                    symbol = SymbolId(Kind.STATE, machine, state.text)
                    role = [
                        r
                        for r, names in (("initial", initial), ("final", final))
                        if state.text in names
                    ]
                    described = f"{' '.join(role)} state" if role else "state"
                    signature = f"{described} {state.text} of machine {machine}"
                    self._declare(symbol, state, signature, member.span)
                    outline.append(Outline(symbol, state.span, state.span))
                return outline
            case ast.InitialClause(state=state):
                self._refer(SymbolId(Kind.STATE, machine, state.text), state)
            case ast.FinalClause(states=states):
                for state in states:
                    self._refer(SymbolId(Kind.STATE, machine, state.text), state)
            case ast.Transition():
                return [self._transition(machine, member)]
        return []

    def _transition(self, machine: str, transition: ast.Transition) -> Outline:
        symbol = SymbolId(Kind.TRANSITION, machine, transition.name.text)
        sources = ", ".join(s.text if isinstance(s, ast.Name) else "*" for s in transition.sources)
        signature = (
            f"transition {transition.name.text}: {sources} -> {transition.target.text}"
            f" on {trigger_text(transition.trigger)}\n\nin machine {machine}"
        )
        self._declare(symbol, transition.name, signature, transition.span)
        for source in transition.sources:
            if isinstance(source, ast.Name):
                self._refer(SymbolId(Kind.STATE, machine, source.text), source)
        self._refer(SymbolId(Kind.STATE, machine, transition.target.text), transition.target)
        scope = self._trigger(machine, transition.trigger)
        self.trigger_fields[symbol] = scope
        if transition.guard is not None:
            self._expr(transition.guard.condition, machine, scope)
        if transition.keep is not None:
            for task in transition.keep.tasks:
                self._refer(SymbolId(Kind.TASK, "", task.text), task)
        if transition.run is not None:
            self._call(
                SymbolId(Kind.TASK, "", transition.run.task.text),
                transition.run.task,
                transition.run.bindings,
                machine,
                scope,
            )
        if transition.set is not None:
            for assignment in transition.set.assignments:
                self._expr(assignment.target, machine, scope)
                self._expr(assignment.value, machine, scope)
        for emit in transition.emits:
            self._call(
                SymbolId(Kind.SIGNAL, "", emit.signal.text),
                emit.signal,
                emit.bindings,
                machine,
                scope,
            )
        return Outline(symbol, transition.span, transition.name.span)

    def _trigger(self, machine: str, trigger: ast.Trigger) -> FieldScope | None:
        match trigger:
            case ast.EventTrigger(event=event):
                named = self._named(event)
                self._refer(named, event)
                return FieldScope(Kind.FIELD, named.name)
            case ast.SelectorTrigger(event=event, field=selector):
                named = self._named(event)
                self._refer(named, event)
                self._refer(SymbolId(Kind.FIELD, named.name, selector.text), selector)
                return FieldScope(Kind.FIELD, named.name)
            case ast.OutcomeTrigger(task=task, outcome=outcome):
                self._refer(SymbolId(Kind.TASK, "", task.text), task)
                if outcome is ast.Outcome.FAILED:
                    return FAILED_SCOPE
                return FieldScope(Kind.RESULT, task.text)
            case ast.DeadlineTrigger(field=deadline):
                self._expr(deadline, machine, None)
        return None

    def _call(
        self,
        target: SymbolId,
        name: ast.Name,
        bindings: Sequence[ast.Binding],
        machine: str,
        scope: FieldScope | None,
    ) -> None:
        """``run T(f = x)`` / ``emit S(f = x)``: ``f`` is a field of ``T`` / ``S``."""
        self._refer(target, name)
        for binding in bindings:
            self._refer(SymbolId(Kind.FIELD, target.name, binding.field.text), binding.field)
            self._expr(binding.value, machine, scope)

    def _conditions(
        self, conditions: Sequence[ast.AllFinal | ast.AllIn | ast.AnyIn], data: ast.Expr | None
    ) -> None:
        for condition in conditions:
            machine = condition.machine.text
            self._refer(SymbolId(Kind.MACHINE, "", machine), condition.machine)
            if isinstance(condition, ast.AllIn | ast.AnyIn):
                for state in condition.states:
                    self._refer(SymbolId(Kind.STATE, machine, state.text), state)
        if data is not None:
            self._expr(data, "", None)

    def _expr(self, expr: ast.Expr, machine: str, scope: FieldScope | None) -> None:
        # A loop over a stack: a long `a and b and ...` is a deep left tree.
        stack: list[ast.Expr] = [expr]
        while stack:
            match stack.pop():
                case ast.EventFieldRef(field=name) if scope is not None:
                    self._refer(SymbolId(scope.kind, scope.owner, name.text), name)
                case ast.DataFieldRef(scope=ast.DataScope.DATA, field=name):
                    self._refer(SymbolId(Kind.DATA, "", name.text), name)
                case ast.DataFieldRef(scope=ast.DataScope.INSTANCE, field=name):
                    self._refer(SymbolId(Kind.INSTANCE, machine, name.text), name)
                case ast.UnaryExpr(operand=inner) | ast.IsNoneExpr(operand=inner):
                    stack.append(inner)
                case ast.ParenExpr(inner=inner):
                    stack.append(inner)
                case ast.BinaryExpr(left=left, right=right):
                    stack.extend((left, right))


__all__ = [
    "FAILED_SCOPE",
    "FieldScope",
    "Kind",
    "Occurrence",
    "Outline",
    "Symbol",
    "SymbolId",
    "SymbolIndex",
    "build_index",
]
