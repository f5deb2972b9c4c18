"""The abstract syntax tree of a ``.pm`` file.

Immutable, faithful to the source (declarations keep their order, repeated
clauses are kept so that semantics can report them) and free of lark types.
Every node carries the :class:`~pmc.source.Span` it was parsed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from pmc.source import Span


@dataclass(frozen=True, slots=True)
class Name:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Duration:
    """A duration literal such as ``30s``; ``text`` keeps the spelling."""

    milliseconds: int
    text: str
    span: Span


# ---- types -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamedType:
    """``str``, ``list[str]``, ``dict[str, int]``: a name with optional arguments."""

    name: Name
    args: tuple[TypeExpr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class UnionType:
    """``T | None`` (other unions are parsed and rejected by semantics)."""

    members: tuple[NamedType, ...]
    span: Span


TypeExpr = NamedType | UnionType


# ---- literals and expressions ----------------------------------------------


@dataclass(frozen=True, slots=True)
class StringLiteral:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class IntLiteral:
    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class DecimalLiteral:
    value: Decimal
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class BoolLiteral:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class NoneLiteral:
    span: Span


Literal = StringLiteral | IntLiteral | DecimalLiteral | BoolLiteral | NoneLiteral


@dataclass(frozen=True, slots=True)
class EventFieldRef:
    """``event.FIELD``: a field of the event that triggered the transition."""

    field: Name
    span: Span


@dataclass(frozen=True, slots=True)
class MachineIdRef:
    span: Span


@dataclass(frozen=True, slots=True)
class KeyRef:
    span: Span


class DataScope(StrEnum):
    """Whose data a reference reads or an assignment writes."""

    DATA = "data"  # the process's record: ``data.FIELD``
    INSTANCE = "instance"  # the machine instance's record: ``instance.FIELD``


@dataclass(frozen=True, slots=True)
class DataFieldRef:
    """``data.FIELD`` or ``instance.FIELD``."""

    scope: DataScope
    field: Name
    span: Span


class UnaryOp(StrEnum):
    NOT = "not"
    LEN = "len"  # written ``len(x)``


@dataclass(frozen=True, slots=True)
class UnaryExpr:
    op: UnaryOp
    operand: Expr
    span: Span


class BinaryOp(StrEnum):
    """Binary operators, named by their spelling in a ``.pm`` file."""

    OR = "or"
    AND = "and"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    NOT_IN = "not in"
    ADD = "+"
    SUB = "-"


@dataclass(frozen=True, slots=True)
class BinaryExpr:
    """``left OP right``; comparisons do not chain (``a < b < c`` is a syntax error)."""

    op: BinaryOp
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class IsNoneExpr:
    """``x is none`` / ``x is not none``."""

    operand: Expr
    negated: bool  # ``is not none``
    span: Span


@dataclass(frozen=True, slots=True)
class ParenExpr:
    """``( expr )``: kept so that the formatter writes the parentheses back."""

    inner: Expr
    span: Span


Expr = (
    Literal
    | EventFieldRef
    | MachineIdRef
    | KeyRef
    | DataFieldRef
    | UnaryExpr
    | BinaryExpr
    | IsNoneExpr
    | ParenExpr
)


# ---- declarations ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    name: Name
    type: TypeExpr
    default: Literal | None
    span: Span


@dataclass(frozen=True, slots=True)
class KeyDecl:
    field: Name
    span: Span


@dataclass(frozen=True, slots=True)
class EventDecl:
    name: Name
    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class DataDecl:
    """``data { FIELD: TYPE [= LITERAL] ... }``: in a process, or first in a machine."""

    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class SignalDecl:
    """``signal NAME { FIELD: TYPE [= LITERAL] ... }``: an event internal to the process."""

    name: Name
    fields: tuple[Field, ...]
    span: Span


class TaskMode(StrEnum):
    SYNC = "sync"
    ASYNC = "async"


class RetryDelayKind(StrEnum):
    BACKOFF = "backoff"
    EVERY = "every"


@dataclass(frozen=True, slots=True)
class RetryDelay:
    kind: RetryDelayKind
    duration: Duration
    span: Span


@dataclass(frozen=True, slots=True)
class RetryClause:
    """``retry N [backoff D | every D] [max D]``: ``N`` retries after the first attempt."""

    retries: int
    retries_span: Span
    delay: RetryDelay | None
    max_delay: Duration | None
    span: Span


@dataclass(frozen=True, slots=True)
class TimeoutClause:
    duration: Duration
    span: Span


@dataclass(frozen=True, slots=True)
class ReturnsClause:
    fields: tuple[Field, ...]
    span: Span


TaskMember = Field | ReturnsClause | RetryClause | TimeoutClause


@dataclass(frozen=True, slots=True)
class TaskDecl:
    name: Name
    mode: TaskMode | None  # None: not written, defaults to async
    mode_span: Span | None
    members: tuple[TaskMember, ...]
    span: Span

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(m for m in self.members if isinstance(m, Field))

    @property
    def returns(self) -> tuple[ReturnsClause, ...]:
        return tuple(m for m in self.members if isinstance(m, ReturnsClause))

    @property
    def retries(self) -> tuple[RetryClause, ...]:
        return tuple(m for m in self.members if isinstance(m, RetryClause))

    @property
    def timeouts(self) -> tuple[TimeoutClause, ...]:
        return tuple(m for m in self.members if isinstance(m, TimeoutClause))


# ---- machines ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatesClause:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class InitialClause:
    state: Name
    span: Span


@dataclass(frozen=True, slots=True)
class FinalClause:
    states: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*`` as a transition source: every non-final state."""

    span: Span


@dataclass(frozen=True, slots=True)
class EventTrigger:
    """``on EventName``: the machine's single instance, or all of its many (broadcast)."""

    event: Name
    span: Span


@dataclass(frozen=True, slots=True)
class SelectorTrigger:
    """``on EventName.field``: the field names the target instance(s)."""

    event: Name
    field: Name
    span: Span


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutcomeTrigger:
    """``on Task completed`` / ``on Task failed``."""

    task: Name
    outcome: Outcome
    span: Span


@dataclass(frozen=True, slots=True)
class TimerTrigger:
    """``on after 5m``."""

    duration: Duration
    span: Span


@dataclass(frozen=True, slots=True)
class DeadlineTrigger:
    """``on at data.FIELD`` / ``on at instance.FIELD``: a timer due at that instant."""

    field: DataFieldRef
    span: Span


# ``on Name`` and ``on Name.field`` name an event or a signal: the parser
# cannot tell which, semantics looks the name up.
Trigger = EventTrigger | SelectorTrigger | OutcomeTrigger | TimerTrigger | DeadlineTrigger


@dataclass(frozen=True, slots=True)
class Binding:
    field: Name
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class RunClause:
    task: Name
    bindings: tuple[Binding, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Guard:
    """``when EXPR``."""

    condition: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class KeepClause:
    """``keep TASK, ...``: tasks that stay in flight when the transition leaves its state."""

    tasks: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Assignment:
    """``data.FIELD = EXPR`` / ``instance.FIELD = EXPR`` in a ``set`` clause."""

    target: DataFieldRef
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class SetClause:
    """``set A, B, ...``: simultaneous assignments (each reads the values from before)."""

    assignments: tuple[Assignment, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class EmitClause:
    """``emit Signal(FIELD = EXPR, ...)``; a transition may have several, in order."""

    signal: Name
    bindings: tuple[Binding, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Transition:
    """``transition NAME: FROM -> TO on TRIGGER [when] [keep] [run] [set] [emit...]``."""

    name: Name
    sources: tuple[Name | Wildcard, ...]
    target: Name
    trigger: Trigger
    run: RunClause | None
    span: Span
    guard: Guard | None = None
    keep: KeepClause | None = None
    set: SetClause | None = None
    emits: tuple[EmitClause, ...] = ()


MachineMember = DataDecl | StatesClause | InitialClause | FinalClause | Transition


@dataclass(frozen=True, slots=True)
class MachineDecl:
    name: Name
    members: tuple[MachineMember, ...]
    span: Span

    @property
    def states_clauses(self) -> tuple[StatesClause, ...]:
        return tuple(m for m in self.members if isinstance(m, StatesClause))

    @property
    def initial_clauses(self) -> tuple[InitialClause, ...]:
        return tuple(m for m in self.members if isinstance(m, InitialClause))

    @property
    def final_clauses(self) -> tuple[FinalClause, ...]:
        return tuple(m for m in self.members if isinstance(m, FinalClause))

    @property
    def transitions(self) -> tuple[Transition, ...]:
        return tuple(m for m in self.members if isinstance(m, Transition))

    @property
    def data_blocks(self) -> tuple[DataDecl, ...]:
        return tuple(m for m in self.members if isinstance(m, DataDecl))


# ---- process-level clauses ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllFinal:
    """``all M final``."""

    machine: Name
    span: Span


@dataclass(frozen=True, slots=True)
class AllIn:
    """``all M in S, ...``."""

    machine: Name
    states: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class AnyIn:
    """``any M in S, ...``."""

    machine: Name
    states: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class StartOn:
    events: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class CompleteWhen:
    """Conditions joined by ``and``; ``data`` is a data expression joined last, by ``and``."""

    conditions: tuple[AllFinal | AllIn, ...]
    span: Span
    data: Expr | None = None


@dataclass(frozen=True, slots=True)
class FailWhen:
    """Conditions joined by ``or``; ``data`` is a data expression joined last, by ``or``."""

    conditions: tuple[AnyIn, ...]
    span: Span
    data: Expr | None = None


@dataclass(frozen=True, slots=True)
class CancelOn:
    events: tuple[Name, ...]
    span: Span


Declaration = (
    KeyDecl
    | EventDecl
    | TaskDecl
    | MachineDecl
    | StartOn
    | CompleteWhen
    | FailWhen
    | CancelOn
    | DataDecl
    | SignalDecl
)


_D = TypeVar("_D")


@dataclass(frozen=True, slots=True)
class Process:
    name: Name
    declarations: tuple[Declaration, ...]
    span: Span

    def of_type(self, kind: type[_D]) -> tuple[_D, ...]:
        return tuple(d for d in self.declarations if isinstance(d, kind))

    @property
    def keys(self) -> tuple[KeyDecl, ...]:
        return self.of_type(KeyDecl)

    @property
    def events(self) -> tuple[EventDecl, ...]:
        return self.of_type(EventDecl)

    @property
    def tasks(self) -> tuple[TaskDecl, ...]:
        return self.of_type(TaskDecl)

    @property
    def machines(self) -> tuple[MachineDecl, ...]:
        return self.of_type(MachineDecl)

    @property
    def data_blocks(self) -> tuple[DataDecl, ...]:
        return self.of_type(DataDecl)

    @property
    def signals(self) -> tuple[SignalDecl, ...]:
        return self.of_type(SignalDecl)


@dataclass(frozen=True, slots=True)
class Comment:
    """A ``#`` comment; kept beside the tree for the formatter."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed ``.pm`` file."""

    process: Process
    comments: tuple[Comment, ...]
