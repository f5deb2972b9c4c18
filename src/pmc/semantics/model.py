"""The validated model of a process: what semantics hands to codegen.

Everything here is resolved and checked: names exist, types are known,
``*`` sources are expanded, defaults are filled in. Codegen never needs the
AST or diagnostics. Tuples keep source order, which is also the order of the
generated code.

The parts a tool points back at (the process, its key, events, tasks, fields,
machines, states and transitions) remember where they are written, so that
``pmc breaking`` (and any later tool) never walks the AST again. Spans are not
compared: two models are equal when they mean the same, wherever it is written.
"""

from __future__ import annotations

from dataclasses import field as dataclass_field
from decimal import Decimal
from enum import StrEnum

from pmc.source import Span
from pmc.syntax.records import record

# Where a part built by hand (in tests) is written: nowhere in any file. Spans
# are left out of equality (``compare=False``) and out of the hash.
NOWHERE = Span(0, 0, 0, 0)


# ---- types -----------------------------------------------------------------


class Primitive(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    UUID = "UUID"
    DATETIME = "datetime"
    DATE = "date"
    DECIMAL = "Decimal"


@record
class PrimitiveType:
    primitive: Primitive


@record
class ListType:
    item: ValueType


@record
class DictType:
    """``dict[str, T]``: keys are always ``str``."""

    value: ValueType


@record
class OptionalType:
    """``T | None``."""

    inner: ValueType


ValueType = PrimitiveType | ListType | DictType | OptionalType

LiteralValue = str | int | Decimal | bool | None


@record
class FieldModel:
    name: str
    type: ValueType
    has_default: bool = False
    default: LiteralValue = None
    # The whole declaration, `name: type = default`.
    span: Span = dataclass_field(default=NOWHERE, compare=False)
    type_span: Span = dataclass_field(default=NOWHERE, compare=False)


# ---- events and tasks --------------------------------------------------------


@record
class EventModel:
    name: str
    fields: tuple[FieldModel, ...]
    span: Span = dataclass_field(default=NOWHERE, compare=False)  # the name


class TaskMode(StrEnum):
    SYNC = "sync"
    ASYNC = "async"


class RetryDelayKind(StrEnum):
    NONE = "none"  # retry at once
    BACKOFF = "backoff"  # delay doubles from ``delay_ms``
    EVERY = "every"  # fixed ``delay_ms``


@record
class RetryPolicy:
    """``retries`` more attempts after the first one fails."""

    retries: int
    delay_kind: RetryDelayKind
    delay_ms: int
    max_delay_ms: int | None


@record
class TaskModel:
    name: str
    mode: TaskMode
    fields: tuple[FieldModel, ...]
    returns: tuple[FieldModel, ...]  # empty: the task returns nothing
    retry: RetryPolicy | None  # None: a failed attempt is final
    timeout_ms: int | None  # None: no timeout
    span: Span = dataclass_field(default=NOWHERE, compare=False)  # the name
    # The mode keyword; None: not written (the default mode).
    mode_span: Span | None = dataclass_field(default=None, compare=False)


# ---- machines ------------------------------------------------------------------


@record
class EventTriggerModel:
    """The machine's single instance reacts to ``event``."""

    event: str


@record
class SelectorTriggerModel:
    """``event.field`` holds the target instance id, or a list of them (fan-out)."""

    event: str
    field: str
    fan_out: bool


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


@record
class OutcomeTriggerModel:
    task: str
    outcome: Outcome


@record
class TimerTriggerModel:
    after_ms: int


@record
class SignalTriggerModel:
    """``on Signal`` (every machine instance that exists: a single instance, or a
    broadcast) or ``on Signal.field`` (the named instance ids; ``fan_out`` for a list)."""

    signal: str
    field: str | None = None
    fan_out: bool = False


@record
class DeadlineTriggerModel:
    """``on at data.F`` / ``on at instance.F``: due at that instant (none: no timer)."""

    scope: DataScope
    field: str


TriggerModel = (
    EventTriggerModel
    | SelectorTriggerModel
    | OutcomeTriggerModel
    | TimerTriggerModel
    | SignalTriggerModel
    | DeadlineTriggerModel
)


@record
class LiteralExpr:
    value: LiteralValue
    # How the literal is typed where it stands in an expression: a decimal
    # literal next to a `float` is a `float` (codegen writes `0.5`, not
    # `Decimal("0.5")`, which would not mix), elsewhere a `Decimal`. None in
    # a binding, whose field gives the type. Derived, so not compared.
    type: ValueType | None = dataclass_field(default=None, compare=False)


@record
class EventFieldExpr:
    """A field of the trigger: an input event's field, a task result field or ``reason``."""

    field: str


@record
class MachineIdExpr:
    pass


@record
class KeyExpr:
    pass


class DataScope(StrEnum):
    DATA = "data"  # the process's record
    INSTANCE = "instance"  # the machine instance's record


@record
class DataFieldExpr:
    """``data.FIELD`` / ``instance.FIELD``: the value from before the transition."""

    scope: DataScope
    field: str


class UnaryOp(StrEnum):
    NOT = "not"
    LEN = "len"


@record
class UnaryExpr:
    op: UnaryOp
    operand: ExprModel


class BinaryOp(StrEnum):
    """Binary operators, named by their spelling in a ``.pm`` file (and in Python)."""

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
    op: BinaryOp
    left: ExprModel
    right: ExprModel


@record
class IsNoneExpr:
    operand: ExprModel
    negated: bool  # ``is not none``


# Parentheses are not kept: the tree is the grouping. Codegen parenthesises
# every compound operand, so Python's precedence never decides anything.
ExprModel = (
    LiteralExpr
    | EventFieldExpr
    | MachineIdExpr
    | KeyExpr
    | DataFieldExpr
    | UnaryExpr
    | BinaryExpr
    | IsNoneExpr
)


@record
class BindingModel:
    field: str
    value: ExprModel
    # The type of a non-literal value (None for a literal): codegen converts
    # an `int` bound to a `Decimal` field, which mypy would not accept as is.
    # Derived from the rest of the model, so not compared.
    source_type: ValueType | None = dataclass_field(default=None, compare=False)


@record
class RunModel:
    """The task a transition starts. Task fields with defaults may be unbound."""

    task: str
    bindings: tuple[BindingModel, ...]


@record
class AssignmentModel:
    """``data.F = EXPR`` / ``instance.F = EXPR`` of a ``set`` clause."""

    scope: DataScope
    field: str
    value: ExprModel
    # The type of the value as written (codegen converts an `int` into a
    # `Decimal` field, as for bindings). Derived, so not compared.
    source_type: ValueType | None = dataclass_field(default=None, compare=False)


@record
class EmitModel:
    """``emit Signal(FIELD = EXPR, ...)``: signal fields with defaults may be unbound."""

    signal: str
    bindings: tuple[BindingModel, ...]


@record
class TransitionModel:
    name: str
    sources: tuple[str, ...]  # ``*`` expanded; never a final state
    target: str
    trigger: TriggerModel
    run: RunModel | None
    # Second edition. A transition of one machine on one state and trigger
    # is tried in source order (``MachineModel.transitions``); the first
    # whose guard holds is taken, and an unguarded one comes last.
    guard: ExprModel | None = None
    keep: tuple[str, ...] = ()  # tasks that stay in flight across the transition
    sets: tuple[AssignmentModel, ...] = ()  # simultaneous, in source order
    emits: tuple[EmitModel, ...] = ()  # raised in this order
    # Written with ``*``: ``pmc graph`` draws one edge from "any state"
    # instead of one per expanded source.
    from_wildcard: bool = False
    span: Span = dataclass_field(default=NOWHERE, compare=False)  # the name
    # The sources and target, `A, B -> C`.
    endpoints_span: Span = dataclass_field(default=NOWHERE, compare=False)
    trigger_span: Span = dataclass_field(default=NOWHERE, compare=False)


@record
class MachineModel:
    name: str
    states: tuple[str, ...]
    initial: str
    final: tuple[str, ...]
    multi_instance: bool  # triggered by ``Event.field`` selectors
    transitions: tuple[TransitionModel, ...]
    # The machine's ``data`` block: one record per instance. Every field has
    # a default (filled in by semantics: ``none`` for ``T | None``, empty
    # for lists and dicts).
    data: tuple[FieldModel, ...] = ()
    span: Span = dataclass_field(default=NOWHERE, compare=False)  # the name
    state_spans: tuple[Span, ...] = dataclass_field(default=(), compare=False)  # of ``states``
    states_span: Span = dataclass_field(default=NOWHERE, compare=False)  # the first `states` clause
    # The state the first `initial` clause names.
    initial_span: Span = dataclass_field(default=NOWHERE, compare=False)

    def state_span(self, state: str) -> Span:
        return self.state_spans[self.states.index(state)]


# ---- process ---------------------------------------------------------------------


@record
class AllFinalCondition:
    machine: str


@record
class AllInCondition:
    machine: str
    states: tuple[str, ...]


@record
class AnyInCondition:
    machine: str
    states: tuple[str, ...]


@record
class KeyModel:
    field: str
    type: PrimitiveType  # str, int or UUID
    # The field the first `key` clause names.
    span: Span = dataclass_field(default=NOWHERE, compare=False)


@record
class SignalModel:
    name: str
    fields: tuple[FieldModel, ...]
    span: Span = dataclass_field(default=NOWHERE, compare=False)  # the name


@record
class ProcessModel:
    name: str
    key: KeyModel
    events: tuple[EventModel, ...]
    tasks: tuple[TaskModel, ...]
    machines: tuple[MachineModel, ...]
    start_events: tuple[str, ...] | None  # None: any trigger event starts an instance
    # Completion holds when every condition holds; the default (no
    # ``complete when``) is one AllFinalCondition per machine.
    complete_when: tuple[AllFinalCondition | AllInCondition, ...]
    # Failure holds when any condition holds; empty: the process never fails.
    fail_when: tuple[AnyInCondition, ...]
    cancel_events: tuple[str, ...]
    span: Span = dataclass_field(default=NOWHERE, compare=False)  # the name
    # Second edition: the process's ``data`` block (defaults filled in as
    # for machines), its signals, and the data expressions of ``complete
    # when`` (joined by ``and``) and ``fail when`` (joined by ``or``).
    data: tuple[FieldModel, ...] = ()
    signals: tuple[SignalModel, ...] = ()
    complete_data: ExprModel | None = None
    fail_data: ExprModel | None = None

    def event(self, name: str) -> EventModel:
        return next(e for e in self.events if e.name == name)

    def task(self, name: str) -> TaskModel:
        return next(t for t in self.tasks if t.name == name)

    def machine(self, name: str) -> MachineModel:
        return next(m for m in self.machines if m.name == name)

    def signal(self, name: str) -> SignalModel:
        return next(s for s in self.signals if s.name == name)
