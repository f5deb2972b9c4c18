"""Second-edition programs, valid by construction, and an evaluator of their expressions.

The grammar-driven strategies (``strategies.programs``) reach every syntax
but rarely a program that checks. These strategies build programs that must
check: data in the process and in machines, guards, ``set``, signals and
``emit``, ``keep``, ``at`` deadlines, data conditions in ``complete when`` and
``fail when``. Every expression is drawn with a type, so it fits where it
goes; the structure obeys the graph rules (every state reachable and able to
finish, task outcomes handled exactly where a task may be in flight, at most
one unguarded transition per state and trigger and it comes last, signals
that never cycle).

Expressions are kept as trees of their own (:data:`Expr`), rendered to
``.pm`` text and evaluated in Python by :func:`evaluate`: a test computes
what a guard or a condition gives without going through pmc.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# ---- expressions ------------------------------------------------------------------------

# The value types programs use, as the `.pm` text spells them.
INT, DECIMAL, STR, BOOL, LIST = "int", "Decimal", "str", "bool", "list[str]"
OPT_INT, DATETIME, OPT_DATETIME = "int | None", "datetime", "datetime | None"


@dataclass(frozen=True, slots=True)
class Lit:
    value: int | Decimal | str | bool | None


@dataclass(frozen=True, slots=True)
class Ref:
    """``event.F``, ``data.F`` or ``instance.F`` (``scope``, ``name``); ``key``, ``machine_id``."""

    scope: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Op:
    op: str  # as written: `and`, `==`, `not in`, `+`, ...
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class Len:
    operand: Expr


@dataclass(frozen=True, slots=True)
class IsNone:
    operand: Expr
    negated: bool


Expr = Lit | Ref | Op | Not | Len | IsNone

# What an expression may read, by type: ``Ref`` leaves.
Refs = Mapping[str, Sequence[Ref]]


def text(expr: Expr) -> str:
    """The expression as `.pm` text, every compound operand in parentheses."""
    match expr:
        case Lit(value=None):
            return "none"
        case Lit(value=bool() as flag):
            return "true" if flag else "false"
        case Lit(value=str() as string):
            return f'"{string}"'
        case Lit(value=value):
            return str(value)
        case Ref(scope=("key" | "machine_id") as word):
            return word
        case Ref(scope=scope, name=name):
            return f"{scope}.{name}"
        case Op(op=op, left=left, right=right):
            return f"{_operand(left)} {op} {_operand(right)}"
        case Not(operand=operand):
            return f"not {_operand(operand)}"
        case Len(operand=operand):
            return f"len({text(operand)})"
        case IsNone(operand=operand, negated=negated):
            return f"{_operand(operand)} is {'not ' if negated else ''}none"


def _operand(expr: Expr) -> str:
    return f"({text(expr)})" if isinstance(expr, Op | Not | IsNone) else text(expr)


_BINARY: Mapping[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
}


def evaluate(expr: Expr, values: Mapping[str, Any]) -> Any:
    """The value of ``expr`` where ``values`` maps ``text(ref)`` to each ref's value."""
    match expr:
        case Lit(value=value):
            return value
        case Ref():
            return values[text(expr)]
        case Op(op="and", left=left, right=right):
            return evaluate(left, values) and evaluate(right, values)
        case Op(op="or", left=left, right=right):
            return evaluate(left, values) or evaluate(right, values)
        case Op(op=op, left=left, right=right):
            return _BINARY[op](evaluate(left, values), evaluate(right, values))
        case Not(operand=operand):
            return not evaluate(operand, values)
        case Len(operand=operand):
            return len(evaluate(operand, values))
        case IsNone(operand=operand, negated=negated):
            return (evaluate(operand, values) is None) != negated


SMALL_INTS = st.integers(0, 5)
DECIMALS = st.sampled_from([Decimal("0.5"), Decimal("1.25"), Decimal("2.0")])
SHORT_STRINGS = st.sampled_from(["", "a", "b", "ab"])


def expressions(kind: str, refs: Refs, depth: int = 2) -> st.SearchStrategy[Expr]:
    """Expressions of type ``kind`` that read only ``refs``.

    ``int | None`` and ``datetime | None`` are the types of the values a
    ``set`` may store in such a field: ``none``, a ref of the optional type,
    or a value of the plain one.
    """
    leaves = [st.sampled_from(list(refs[kind]))] if refs.get(kind) else []
    deeper = depth > 0
    match kind:
        case "bool":
            leaves.append(st.booleans().map(Lit))
            return st.one_of(*leaves, *(_bool_compounds(refs, depth - 1) if deeper else []))
        case "int":
            leaves.append(SMALL_INTS.map(Lit))
            return st.one_of(*leaves, *(_int_compounds(refs, depth - 1) if deeper else []))
        case "Decimal":
            # An `int` mixes with a `Decimal` (never a `float`): the result is a Decimal.
            leaves += [DECIMALS.map(Lit), expressions(INT, refs, depth)]
            if deeper:
                sub = expressions(DECIMAL, refs, depth - 1)
                leaves.append(st.builds(Op, st.sampled_from(["+", "-"]), sub, sub))
            return st.one_of(*leaves)
        case "str":
            leaves.append(SHORT_STRINGS.map(Lit))
            if deeper:
                sub = expressions(STR, refs, depth - 1)
                leaves.append(st.builds(Op, st.just("+"), sub, sub))
            return st.one_of(*leaves)
        case "int | None" | "datetime | None":
            plain = kind.removesuffix(" | None")
            # There is no datetime literal: a datetime comes from a ref or not at all.
            if plain != DATETIME or refs.get(DATETIME):
                leaves.append(expressions(plain, refs, depth))
            return st.one_of(st.just(Lit(None)), *leaves)
    assert leaves, f"nothing of type {kind} to read"
    return st.one_of(*leaves)


def _bool_compounds(refs: Refs, depth: int) -> list[st.SearchStrategy[Expr]]:
    flags, numbers = expressions(BOOL, refs, depth), expressions(INT, refs, depth)
    decimals = expressions(DECIMAL, refs, depth)
    strings = expressions(STR, refs, depth)
    found: list[st.SearchStrategy[Expr]] = [
        flags.map(Not),
        st.builds(Op, st.sampled_from(["and", "or"]), flags, flags),
        st.builds(Op, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), numbers, numbers),
        st.builds(Op, st.sampled_from(["==", "<", ">="]), decimals, decimals),
        st.builds(Op, st.sampled_from(["==", "!=", "<", ">="]), strings, strings),
    ]
    if refs.get(LIST):
        lists = st.sampled_from(list(refs[LIST]))
        found.append(st.builds(Op, st.sampled_from(["in", "not in"]), strings, lists))
    for optional in (OPT_INT, OPT_DATETIME):
        if refs.get(optional):
            found.append(st.builds(IsNone, st.sampled_from(list(refs[optional])), st.booleans()))
    if refs.get(OPT_INT):
        # `T | None` compares with `T`.
        optionals = st.sampled_from(list(refs[OPT_INT]))
        found.append(st.builds(Op, st.sampled_from(["==", "!="]), optionals, numbers))
    return found


def _int_compounds(refs: Refs, depth: int) -> list[st.SearchStrategy[Expr]]:
    numbers = expressions(INT, refs, depth)
    sized = [st.sampled_from(list(refs[kind])) for kind in (STR, LIST) if refs.get(kind)]
    return [
        st.builds(Op, st.sampled_from(["+", "-"]), numbers, numbers),
        *(sizes.map(Len) for sizes in sized),
    ]


# ---- declarations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    default: Lit | None = None  # None: the type's own (`none`, empty)

    @property
    def text(self) -> str:
        default = "" if self.default is None else f" = {text(self.default)}"
        return f"{self.name}: {self.type}{default}"

    @property
    def initial(self) -> Any:
        """The value of the field in a new record."""
        if self.default is not None:
            return self.default.value
        return [] if self.type == LIST else None


# Every input event has these fields: a guard reads any of them whatever the trigger.
EVENT_FIELDS = (
    Field("id", STR),
    Field("n", INT),
    Field("amount", DECIMAL),
    Field("tag", STR),
    Field("flag", BOOL),
    Field("items", LIST),
    Field("who", STR),
    Field("stamp", DATETIME),
)
EVENTS = ("Go", "Poke", "Nudge")
SIGNAL_FIELDS = (Field("n", INT), Field("tag", STR), Field("who", STR))
# The ids `who` and `items` hold: few, so that selectors meet the same instances.
WHO = ("a", "b", "c")

# The data fields a record may have; a drawn program declares some of them.
PROCESS_DATA = (
    Field("count", INT, Lit(0)),
    Field("total", DECIMAL, Lit(Decimal("0.5"))),
    Field("label", STR, Lit("")),
    Field("seen", BOOL, Lit(False)),
    Field("last", OPT_INT),
    Field("tags", LIST),
    Field("due", OPT_DATETIME),
)
MACHINE_DATA = (
    Field("hits", INT, Lit(1)),
    Field("share", DECIMAL, Lit(Decimal("1.0"))),
    Field("note", STR, Lit("x")),
    Field("active", BOOL, Lit(True)),
    Field("prev", OPT_INT),
    Field("marks", LIST),
    Field("until", OPT_DATETIME),
)


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    inputs: tuple[Field, ...]
    returns: tuple[Field, ...] | None

    @property
    def text(self) -> str:
        body = "  ".join(f.text for f in self.inputs)
        if self.returns is not None:
            body += "  returns { " + "  ".join(f.text for f in self.returns) + " }"
        return f"task {self.name} {{ {body} }}"


TASKS = (
    Task("Job", (Field("n", INT),), (Field("r", INT),)),
    Task("Note", (Field("tag", STR),), None),
)


def task(name: str) -> Task:
    return next(t for t in TASKS if t.name == name)


# ---- triggers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trigger:
    """What a transition is on.

    ``kind``: ``event``, ``signal`` (``field``: a selector, or broadcast on a
    many-instance machine without one), ``completed``/``failed`` (``name``
    is the task), ``after`` (``name`` the duration) or ``at`` (``name`` the
    data ref).
    """

    kind: str
    name: str
    field: str | None = None

    @property
    def text(self) -> str:
        match self.kind:
            case "event" | "signal":
                return self.name if self.field is None else f"{self.name}.{self.field}"
            case "completed" | "failed":
                return f"{self.name} {self.kind}"
            case _:
                return f"{self.kind} {self.name}"

    @property
    def timer(self) -> bool:
        """Each timer is a trigger of its own: never one of several on a state."""
        return self.kind in ("after", "at")

    def event_fields(self) -> tuple[Field, ...]:
        """What ``event.`` reads on this trigger."""
        match self.kind:
            case "event":
                return EVENT_FIELDS
            case "signal":
                return SIGNAL_FIELDS
            case "completed":
                return task(self.name).returns or ()
            case "failed":
                return (Field("reason", STR),)
        return ()


# ---- machines and processes ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Emit:
    signal: str
    bindings: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    source: str
    target: str
    trigger: Trigger
    guard: Expr | None = None
    keep: tuple[str, ...] = ()
    run: tuple[str, tuple[tuple[str, Expr], ...]] | None = None
    sets: tuple[tuple[Ref, Expr], ...] = ()
    emits: tuple[Emit, ...] = ()

    @property
    def text(self) -> str:
        clauses = [f"transition {self.name}: {self.source} -> {self.target} on {self.trigger.text}"]
        if self.guard is not None:
            clauses.append(f"when {text(self.guard)}")
        if self.keep:
            clauses.append("keep " + ", ".join(self.keep))
        if self.run is not None:
            clauses.append(f"run {self.run[0]}({_bindings(self.run[1])})")
        if self.sets:
            clauses.append("set " + ", ".join(f"{text(r)} = {text(v)}" for r, v in self.sets))
        clauses += [f"emit {e.signal}({_bindings(e.bindings)})" for e in self.emits]
        return "\n            ".join(clauses)


def _bindings(bindings: Sequence[tuple[str, Expr]]) -> str:
    return ", ".join(f"{name} = {text(value)}" for name, value in bindings)


@dataclass(frozen=True, slots=True)
class Machine:
    name: str
    multi: bool
    states: tuple[str, ...]  # the first is initial, the last final
    data: tuple[Field, ...]
    transitions: tuple[Transition, ...]

    @property
    def initial(self) -> str:
        return self.states[0]

    @property
    def final(self) -> str:
        return self.states[-1]

    @property
    def text(self) -> str:
        lines = []
        if self.data:
            lines.append("data { " + "  ".join(f.text for f in self.data) + " }")
        lines += [
            "states " + ", ".join(self.states),
            f"initial {self.initial}",
            f"final {self.final}",
            *(t.text for t in self.transitions),
        ]
        return f"machine {self.name} {{\n        " + "\n        ".join(lines) + "\n    }"

    def candidates(self, state: str, trigger: Trigger) -> tuple[Transition, ...]:
        """The transitions tried, in source order, when ``trigger`` reaches an instance in
        ``state``: its own and those from ``*`` (every state but the final one)."""
        sources = (state, "*") if state != self.final else (state,)
        return tuple(t for t in self.transitions if t.source in sources and t.trigger == trigger)


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    data: tuple[Field, ...]
    signals: tuple[str, ...]
    machines: tuple[Machine, ...]
    complete_data: Expr | None = None
    fail_data: Expr | None = None
    cancel: bool = False

    @property
    def text(self) -> str:
        event_body = "  ".join(f.text for f in EVENT_FIELDS)
        signal_body = "  ".join(f.text for f in SIGNAL_FIELDS)
        lines = [
            "key id",
            *(f"event {name} {{ {event_body} }}" for name in EVENTS),
            *(["event Stop { id: str }", "cancel on Stop"] if self.cancel else []),
            *(t.text for t in TASKS),
            *(f"signal {name} {{ {signal_body} }}" for name in self.signals),
            *(["data { " + "  ".join(f.text for f in self.data) + " }"] if self.data else []),
            *(m.text for m in self.machines),
        ]
        if self.complete_data is not None:
            lines.append(f"complete when all M0 final and {text(self.complete_data)}")
        if self.fail_data is not None:
            lines.append(f"fail when {text(self.fail_data)}")
        return f"process {self.name} {{\n    " + "\n    ".join(lines) + "\n}\n"

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)


def refs_of(
    fields: Sequence[Field], scope: str, where: dict[str, list[Ref]] | None = None
) -> dict[str, list[Ref]]:
    found = where if where is not None else {}
    for f in fields:
        found.setdefault(f.type, []).append(Ref(scope, f.name))
    return found


def transition_refs(
    program_data: Sequence[Field], machine_data: Sequence[Field], trigger: Trigger
) -> Refs:
    """What a transition's expressions read: the trigger, the records, ``key``, ``machine_id``."""
    found = refs_of(trigger.event_fields(), "event")
    refs_of(program_data, "data", found)
    refs_of(machine_data, "instance", found)
    found.setdefault(STR, []).extend([Ref("key"), Ref("machine_id")])
    return found


# ---- drawing a program -------------------------------------------------------------------


def _subset(fields: Sequence[Field]) -> st.SearchStrategy[tuple[Field, ...]]:
    return st.lists(st.sampled_from(list(fields)), unique=True, max_size=len(fields)).map(
        lambda chosen: tuple(f for f in fields if f in chosen)
    )


def _fields_with_defaults(fields: Sequence[Field]) -> st.SearchStrategy[tuple[Field, ...]]:
    """Some of ``fields``, the ones with a literal default drawn anew."""

    def redraw(f: Field) -> st.SearchStrategy[Field]:
        if f.default is None:
            return st.just(f)
        values = {INT: SMALL_INTS, DECIMAL: DECIMALS, STR: SHORT_STRINGS, BOOL: st.booleans()}
        return values[f.type].map(lambda value: replace(f, default=Lit(value)))

    return _subset(fields).flatmap(lambda chosen: st.tuples(*map(redraw, chosen)))


@dataclass(slots=True)
class _Draft:
    """A transition before the passes that make the machine valid."""

    source: str
    target: str
    trigger: Trigger
    guarded: bool = False
    run: str | None = None
    keep: tuple[str, ...] = ()


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """A second-edition program that checks without errors."""
    signals = tuple(f"Sig{i}" for i in range(draw(st.integers(0, 3))))
    data = draw(_fields_with_defaults(PROCESS_DATA))
    machines = [draw(machines_of("M0", multi=False, signals=signals, program_data=data))]
    if draw(st.booleans()):
        machines.append(draw(machines_of("M1", multi=True, signals=signals, program_data=data)))
    data_refs = refs_of(data, "data")
    complete = fail = None
    if data and draw(st.booleans()):
        complete = _not_at_start(draw(expressions(BOOL, data_refs)), data)
    if data and draw(st.booleans()):
        # PM0309: a failure condition must not hold when the process starts.
        fail = _not_at_start(draw(expressions(BOOL, data_refs)), data)
    return Program(
        name="Gen",
        data=data,
        signals=signals,
        machines=tuple(machines),
        complete_data=complete,
        fail_data=fail,
        cancel=draw(st.booleans()),
    )


def _not_at_start(condition: Expr, data: Sequence[Field]) -> Expr:
    """``condition``, or its negation if it holds on the defaults."""
    start = {f"data.{f.name}": f.initial for f in data}
    return Not(condition) if evaluate(condition, start) else condition


def _triggers(
    draw: st.DrawFn, multi: bool, signals: Sequence[str], data: Sequence[Ref]
) -> tuple[list[Trigger], list[Trigger]]:
    """The triggers a machine's transitions draw from, and those that create an instance."""
    addressed = [Trigger("event", name) for name in EVENTS]
    addressed += [Trigger("signal", name) for name in signals]
    if multi:
        # One way of addressing per event or signal in a machine (PM0407);
        # the first event selects, so that instances can be created.
        addressed = [
            replace(t, field=draw(st.sampled_from(["who", None, "items"][: 3 if i else 1])))
            if t.kind == "event"
            else replace(t, field=draw(st.sampled_from(["who", None])))
            for i, t in enumerate(addressed)
        ]
    creating = [t for t in addressed if t.field is not None]
    others = [t for t in addressed if t.field is None]
    others += [Trigger("after", f"{draw(st.integers(1, 90))}m") for _ in range(2)]
    others += [Trigger("at", text(ref)) for ref in data]
    return creating, others + creating


@st.composite
def machines_of(
    draw: st.DrawFn, name: str, multi: bool, signals: Sequence[str], program_data: Sequence[Field]
) -> Machine:
    data = draw(_fields_with_defaults(MACHINE_DATA))
    deadlines = refs_of(program_data, "data").get(OPT_DATETIME, []) + refs_of(data, "instance").get(
        OPT_DATETIME, []
    )
    creating, triggers = _triggers(draw, multi, signals, deadlines)
    count = draw(st.integers(1, 4))
    states = (*(f"S{i}" for i in range(count)), "Done")
    live = states[:-1]

    # A path through every state to the final one: all reachable, none a trap.
    # On events and `after` timers, which a run reaches more often than a
    # signal no transition may emit or a deadline that may stay `none`.
    path = [t for t in triggers if t.kind in ("event", "after")]
    # What an instance in its initial state may take: only a selector creates
    # an instance of a many-instance machine.
    first, initial = (creating, creating) if multi else (path, triggers)
    drafts = [
        _Draft(states[i], states[i + 1], draw(st.sampled_from(first if i == 0 else path)))
        for i in range(count)
    ]
    for _ in range(draw(st.integers(0, 4))):
        source = draw(st.sampled_from(live))
        pool = initial if source == states[0] else triggers
        drafts.append(_Draft(source, draw(st.sampled_from(states)), draw(st.sampled_from(pool))))
    # Two timers alike leaving one state are nondeterministic (PM0403): the
    # first stays, which keeps the path above whole.
    drafts = [
        d
        for i, d in enumerate(drafts)
        if not d.trigger.timer
        or not any((e.source, e.trigger) == (d.source, d.trigger) for e in drafts[:i])
    ]
    for d in drafts:
        d.guarded = not d.trigger.timer and draw(st.booleans())
        if d.target != states[-1]:  # a task does not outlive its machine's end
            d.run = draw(st.sampled_from([None, None, *(t.name for t in TASKS)]))

    # `keep` a task the source state may be running, into a state that then handles it.
    running = _running(drafts)
    for d in drafts:
        keepable = sorted(running[d.source] - {d.run})
        if keepable and d.target not in (d.source, states[-1]) and draw(st.booleans()):
            d.keep = (draw(st.sampled_from(keepable)),)
    running = _running(drafts)

    # Where a task may be in flight, both its outcomes are handled; nowhere else.
    for state in live:
        for task_name in sorted(running[state]):
            for outcome in ("completed", "failed"):
                trigger = Trigger(outcome, task_name)
                guarded = draw(st.integers(0, 2))
                drafts += [
                    _Draft(state, draw(st.sampled_from(states)), trigger, True)
                    for _ in range(guarded)
                ]
                drafts.append(_Draft(state, draw(st.sampled_from(states)), trigger))

    # Guarded `*` transitions, written first: each state tries them before its own.
    addressed = [t for t in triggers if t.kind in ("event", "signal")]
    wildcards = [
        _Draft("*", draw(st.sampled_from(states)), draw(st.sampled_from(addressed)), True)
        for _ in range(draw(st.integers(0, 2)))
    ]
    transitions = [
        draw(_transition(f"t{i}", d, signals, program_data, data))
        for i, d in enumerate(wildcards + _deterministic(drafts))
    ]
    return Machine(name, multi, states, data, tuple(transitions))


def _running(drafts: Sequence[_Draft]) -> dict[str, set[str]]:
    """The tasks that may be in flight in each state: those run or kept on entering it."""
    running: dict[str, set[str]] = {}
    for d in drafts:
        running.setdefault(d.source, set())
        running.setdefault(d.target, set())
    changed = True
    while changed:
        changed = False
        for d in drafts:
            entering = {d.run} - {None} | (set(d.keep) & running[d.source])
            if not entering <= running[d.target]:
                running[d.target] |= {t for t in entering if t is not None}
                changed = True
    return running


def _deterministic(drafts: Sequence[_Draft]) -> list[_Draft]:
    """``drafts`` where each state and trigger has at most one unguarded
    transition, written after its guarded ones (PM0403, PM0408)."""
    ordered: list[_Draft] = []
    groups: dict[tuple[str, Trigger], list[_Draft]] = {}
    for d in drafts:
        if d.trigger.timer:
            ordered.append(d)
            continue
        group = groups.setdefault((d.source, d.trigger), [])
        if not group:
            ordered.append(d)  # the group's place: its first member's
        group.append(d)
    result: list[_Draft] = []
    for d in ordered:
        if d.trigger.timer:
            result.append(d)
            continue
        group = groups[(d.source, d.trigger)]
        unguarded = [g for g in group if not g.guarded]
        for g in unguarded[:-1]:
            g.guarded = True
        result += [g for g in group if g.guarded] + unguarded[-1:]
    return result


@st.composite
def _transition(
    draw: st.DrawFn,
    name: str,
    d: _Draft,
    signals: Sequence[str],
    program_data: Sequence[Field],
    machine_data: Sequence[Field],
) -> Transition:
    refs = transition_refs(program_data, machine_data, d.trigger)
    guard = draw(expressions(BOOL, refs)) if d.guarded else None
    run = None
    if d.run is not None:
        t = task(d.run)
        run = (t.name, tuple((f.name, draw(expressions(f.type, refs))) for f in t.inputs))
    writable = [("data", f) for f in program_data] + [("instance", f) for f in machine_data]
    chosen = draw(st.lists(st.sampled_from(writable), unique=True, max_size=3)) if writable else []
    sets = tuple((Ref(scope, f.name), draw(expressions(f.type, refs))) for scope, f in chosen)
    # Signals never cycle: a transition on `SigI` emits only signals after it.
    after = signals.index(d.trigger.name) + 1 if d.trigger.kind == "signal" else 0
    emitted = (
        draw(st.lists(st.sampled_from(signals[after:]), max_size=2)) if signals[after:] else []
    )
    emits = tuple(
        Emit(s, tuple((f.name, draw(_signal_field(f, refs))) for f in SIGNAL_FIELDS))
        for s in emitted
    )
    return Transition(name, d.source, d.target, d.trigger, guard, d.keep, run, sets, emits)


def _signal_field(f: Field, refs: Refs) -> st.SearchStrategy[Expr]:
    if f.name == "who":  # an instance id: one of few
        return st.one_of(st.sampled_from(WHO).map(Lit), st.sampled_from(list(refs[STR])))
    return expressions(f.type, refs)


# ---- values ---------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@st.composite
def event_values(draw: st.DrawFn, key: str = "r1") -> dict[str, Any]:
    """The fields of an input event of a generated program."""
    return {
        "id": key,
        "n": draw(st.integers(-2, 6)),
        "amount": draw(DECIMALS),
        "tag": draw(SHORT_STRINGS),
        "flag": draw(st.booleans()),
        "items": draw(st.lists(st.sampled_from(WHO), max_size=3)),
        "who": draw(st.sampled_from(WHO)),
        "stamp": T0 + timedelta(minutes=draw(st.integers(-60, 600))),
    }
