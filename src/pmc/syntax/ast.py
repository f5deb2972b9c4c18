"""The abstract syntax tree of a ``.pm`` file.

Immutable, faithful to the source (declarations keep their order, repeated
clauses are kept so that semantics can report them) and free of lark types.
Every node carries the :class:`~pmc.source.Span` it was parsed from.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from pmc.source import Span
from pmc.syntax.records import record


@record
class Name:
    text: str
    span: Span


@record
class Duration:
    """A duration literal such as ``30s``; ``text`` keeps the spelling."""

    milliseconds: int
    text: str
    span: Span


# ---- types -----------------------------------------------------------------


@record
class NamedType:
    """``str``, ``list[str]``, ``dict[str, int]``: a name with optional arguments."""

    name: Name
    args: tuple[TypeExpr, ...]
    span: Span


@record
class UnionType:
    """``T | None`` (other unions are parsed and rejected by semantics)."""

    members: tuple[NamedType, ...]
    span: Span


TypeExpr = NamedType | UnionType


# ---- literals and expressions ----------------------------------------------


@record
class StringLiteral:
    value: str
    span: Span


@record
class IntLiteral:
    value: int
    span: Span


@record
class DecimalLiteral:
    value: Decimal
    text: str
    span: Span


@record
class BoolLiteral:
    value: bool
    span: Span


@record
class NoneLiteral:
    span: Span


Literal = StringLiteral | IntLiteral | DecimalLiteral | BoolLiteral | NoneLiteral


@record
class EventFieldRef:
    """``event.FIELD``: a field of the event that triggered the transition."""

    field: Name
    span: Span


@record
class MachineIdRef:
    span: Span


@record
class KeyRef:
    span: Span


class DataScope(StrEnum):
    """Whose data a reference reads or an assignment writes."""

    DATA = "data"  # the process's record: ``data.FIELD``
    INSTANCE = "instance"  # the machine instance's record: ``instance.FIELD``


@record
class DataFieldRef:
    """``data.FIELD`` or ``instance.FIELD``."""

    scope: DataScope
    field: Name
    span: Span


class UnaryOp(StrEnum):
    NOT = "not"
    LEN = "len"  # written ``len(x)``


@record
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


@record
class BinaryExpr:
    """``left OP right``; comparisons do not chain (``a < b < c`` is a syntax error)."""

    op: BinaryOp
    left: Expr
    right: Expr
    span: Span


@record
class IsNoneExpr:
    """``x is none`` / ``x is not none``."""

    operand: Expr
    negated: bool  # ``is not none``
    span: Span


@record
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


@record
class Field:
    name: Name
    type: TypeExpr
    default: Literal | None
    span: Span


@record
class KeyDecl:
    field: Name
    span: Span


@record
class EventDecl:
    name: Name
    fields: tuple[Field, ...]
    span: Span


@record
class DataDecl:
    """``data { FIELD: TYPE [= LITERAL] ... }``: in a process, or first in a machine."""

    fields: tuple[Field, ...]
    span: Span


@record
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


@record
class RetryDelay:
    kind: RetryDelayKind
    duration: Duration
    span: Span


@record
class RetryClause:
    """``retry N [backoff D | every D] [max D]``: ``N`` retries after the first attempt."""

    retries: int
    retries_span: Span
    delay: RetryDelay | None
    max_delay: Duration | None
    span: Span


@record
class TimeoutClause:
    duration: Duration
    span: Span


@record
class ReturnsClause:
    fields: tuple[Field, ...]
    span: Span


TaskMember = Field | ReturnsClause | RetryClause | TimeoutClause


@record
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


@record
class StatesClause:
    names: tuple[Name, ...]
    span: Span


@record
class InitialClause:
    state: Name
    span: Span


@record
class FinalClause:
    states: tuple[Name, ...]
    span: Span


@record
class Wildcard:
    """``*`` as a transition source: every non-final state."""

    span: Span


@record
class EventTrigger:
    """``on EventName``: the machine's single instance, or all of its many (broadcast)."""

    event: Name
    span: Span


@record
class SelectorTrigger:
    """``on EventName.field``: the field names the target instance(s)."""

    event: Name
    field: Name
    span: Span


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


@record
class OutcomeTrigger:
    """``on Task completed`` / ``on Task failed``."""

    task: Name
    outcome: Outcome
    span: Span


@record
class TimerTrigger:
    """``on after 5m``."""

    duration: Duration
    span: Span


@record
class DeadlineTrigger:
    """``on at data.FIELD`` / ``on at instance.FIELD``: a timer due at that instant."""

    field: DataFieldRef
    span: Span


# ``on Name`` and ``on Name.field`` name an event or a signal: the parser
# cannot tell which, semantics looks the name up.
Trigger = EventTrigger | SelectorTrigger | OutcomeTrigger | TimerTrigger | DeadlineTrigger


@record
class Binding:
    field: Name
    value: Expr
    span: Span


@record
class RunClause:
    task: Name
    bindings: tuple[Binding, ...]
    span: Span


@record
class Guard:
    """``when EXPR``."""

    condition: Expr
    span: Span


@record
class KeepClause:
    """``keep TASK, ...``: tasks that stay in flight when the transition leaves its state."""

    tasks: tuple[Name, ...]
    span: Span


@record
class Assignment:
    """``data.FIELD = EXPR`` / ``instance.FIELD = EXPR`` in a ``set`` clause."""

    target: DataFieldRef
    value: Expr
    span: Span


@record
class SetClause:
    """``set A, B, ...``: simultaneous assignments (each reads the values from before)."""

    assignments: tuple[Assignment, ...]
    span: Span


@record
class EmitClause:
    """``emit Signal(FIELD = EXPR, ...)``; a transition may have several, in order."""

    signal: Name
    bindings: tuple[Binding, ...]
    span: Span


@record
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


@record
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


@record
class AllFinal:
    """``all M final``."""

    machine: Name
    span: Span


@record
class AllIn:
    """``all M in S, ...``."""

    machine: Name
    states: tuple[Name, ...]
    span: Span


@record
class AnyIn:
    """``any M in S, ...``."""

    machine: Name
    states: tuple[Name, ...]
    span: Span


@record
class StartOn:
    events: tuple[Name, ...]
    span: Span


@record
class CompleteWhen:
    """Conditions joined by ``and``; ``data`` is a data expression joined last, by ``and``."""

    conditions: tuple[AllFinal | AllIn, ...]
    span: Span
    data: Expr | None = None


@record
class FailWhen:
    """Conditions joined by ``or``; ``data`` is a data expression joined last, by ``or``."""

    conditions: tuple[AnyIn, ...]
    span: Span
    data: Expr | None = None


@record
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


@record
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


@record
class Comment:
    """A ``#`` comment; kept beside the tree for the formatter."""

    text: str
    span: Span


@record
class Module:
    """One parsed ``.pm`` file."""

    process: Process
    comments: tuple[Comment, ...]
