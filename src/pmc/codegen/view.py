"""The view model: everything the templates print, as data.

Names come from :mod:`pmc.naming`, values go through :mod:`.literals` (a
value here is a Python expression already: a literal, a class or an enum
member). Nothing here indents, breaks lines or writes the syntax around the
values: the templates hold the syntax, and ``ruff format`` lays it out
(:mod:`.formatter`). Order is the source order kept by the model, so the
output is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import pmc.naming as naming
from pmc.codegen.expressions import Refs, check_depth, names_read, python_expr, python_operand
from pmc.codegen.literals import annotation, primitives, printable, py_str, value_literal
from pmc.runtime.contract import (
    BROADCAST_API,
    SECOND_EDITION_API,
    WILDCARD_TABLES_API,
    on_event,
    on_outcome,
    on_signal,
    on_timer,
)
from pmc.semantics.expressions import expr_text
from pmc.semantics.model import (
    AllFinalCondition,
    AllInCondition,
    AnyInCondition,
    BindingModel,
    DataFieldExpr,
    DataScope,
    DeadlineTriggerModel,
    DictType,
    EventFieldExpr,
    EventTriggerModel,
    ExprModel,
    FieldModel,
    KeyExpr,
    ListType,
    LiteralExpr,
    MachineIdExpr,
    MachineModel,
    OptionalType,
    Outcome,
    OutcomeTriggerModel,
    Primitive,
    PrimitiveType,
    ProcessModel,
    SelectorTriggerModel,
    SignalTriggerModel,
    TaskModel,
    TimerTriggerModel,
    TransitionModel,
    TriggerModel,
    ValueType,
)

# ---- the view model ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldView:
    name: str
    annotation: str
    default: str | None  # an expression, or None for a field without a default


@dataclass(frozen=True, slots=True)
class ClassView:
    """A class with a docstring, an optional ``__event_name__`` and fields."""

    name: str
    base: str
    doc: str
    event_name: str | None  # a string literal
    fields: tuple[FieldView, ...]


@dataclass(frozen=True, slots=True)
class NarrowedView:
    """A base class's field narrowed to ``Literal[values]``."""

    name: str
    values: tuple[str, ...]  # string literals


@dataclass(frozen=True, slots=True)
class MachineStatesView:
    machine: str  # a string literal
    enum: str


@dataclass(frozen=True, slots=True)
class NarrowingView:
    """A lifecycle event's base fields narrowed to this process's names.

    In the base's order: ``literals`` (machine, transition), the two state
    fields as a union of ``state_enums``, ``optional_literals`` (task,
    task_mode: ``| None = None``), then ``machine_states``.
    """

    literals: tuple[NarrowedView, ...] = ()
    state_enums: tuple[str, ...] = ()
    optional_literals: tuple[NarrowedView, ...] = ()
    machine_states: tuple[MachineStatesView, ...] = ()


@dataclass(frozen=True, slots=True)
class LifecycleView:
    name: str
    base: str
    process: str
    event_name: str  # a string literal
    narrowing: NarrowingView


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    value: str  # a string literal


@dataclass(frozen=True, slots=True)
class EnumView:
    name: str
    doc: str
    members: tuple[MemberView, ...]


@dataclass(frozen=True, slots=True)
class MethodView:
    """A method of the tasks protocol: ``def name(self, task: input, ctx) -> _Returns[result]``."""

    name: str
    input: str
    result: str


@dataclass(frozen=True, slots=True)
class ImportView:
    module: str
    names: tuple[str, ...]


class ArgSource(StrEnum):
    """Where a bound task field's value comes from (the templates name the parameters)."""

    LITERAL = "literal"
    EVENT_FIELD = "event_field"
    MACHINE_ID = "machine_id"
    KEY = "key"


class Conversion(StrEnum):
    """How a bound value becomes the field's type: an ``int`` bound to a ``Decimal``."""

    NONE = "none"
    DECIMAL = "decimal"
    OPTIONAL_DECIMAL = "optional_decimal"


@dataclass(frozen=True, slots=True)
class ArgView:
    field: str
    source: ArgSource
    value: str  # the literal, the event's field, or "" for the machine id and the key
    conversion: Conversion


@dataclass(frozen=True, slots=True)
class FunctionView:
    """A function of an API 3 module: one clause of a transition, or a data condition.

    ``def name(parameter: annotation) -> returns: return body``, where
    ``body`` is a Python expression (:mod:`.expressions`); ``key``: the
    key's annotation, when the body reads the key (as ``_key``).
    """

    name: str
    parameter: str
    annotation: str
    returns: str
    body: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class BinderView:
    """A binding function: the payload, machine id and key to the task's input."""

    name: str
    payload_type: str
    key_type: str
    task: str
    args: tuple[ArgView, ...]


@dataclass(frozen=True, slots=True)
class RetryView:
    retries: int
    delay: str  # a string literal
    delay_ms: int
    max_delay_ms: int | None


@dataclass(frozen=True, slots=True)
class TaskSpecView:
    name: str  # a string literal
    mode: str  # a string literal
    input: str
    result: str
    method: str  # a string literal
    retry: RetryView | None
    timeout_ms: int | None


@dataclass(frozen=True, slots=True)
class MachineSpecView:
    name: str  # a string literal
    enum: str
    initial: str  # an enum member
    final: tuple[str, ...]  # enum members
    multi_instance: bool
    data: str | None = None  # API 3: the instance record's model


@dataclass(frozen=True, slots=True)
class TransitionSpecView:
    name: str  # a string literal
    target: str  # an enum member
    task: str | None  # a string literal
    bind: str | None  # the binding function
    # API 3: the functions of ``when``, ``set`` and ``emit``, and ``keep``.
    guard: str | None = None
    assign: str | None = None
    emit: str | None = None
    keep: tuple[str, ...] = ()  # string literals


@dataclass(frozen=True, slots=True)
class TransitionRowView:
    """A row of the transition table; ``source`` is None in the wildcard table."""

    machine: str  # a string literal
    source: str | None  # an enum member
    trigger: str  # a string literal
    # One transition, or (API 3) those of one state and trigger in source
    # order: the first whose guard holds is taken.
    specs: tuple[TransitionSpecView, ...]


@dataclass(frozen=True, slots=True)
class TimerSpecView:
    transition: str  # a string literal
    after_ms: int
    at: str | None = None  # API 3: the function of an ``at`` deadline


@dataclass(frozen=True, slots=True)
class TimerRowView:
    """A row of the timer table; ``state`` is None in the wildcard timer table."""

    machine: str  # a string literal
    state: str | None  # an enum member
    specs: tuple[TimerSpecView, ...]


@dataclass(frozen=True, slots=True)
class ConditionView:
    kind: str  # the runtime's class: AllFinal, AllIn, AnyIn or DataCondition
    subject: str  # a string literal of the machine, or a DataCondition's test function
    states: tuple[str, ...] = ()  # enum members; none for AllFinal, which takes the final ones
    text: str | None = None  # a DataCondition's expression as `pmc fmt` writes it, a literal


@dataclass(frozen=True, slots=True)
class LifecycleFieldView:
    parameter: str
    cls: str


@dataclass(frozen=True, slots=True)
class RouteView:
    """The instances of one machine an event goes to.

    Without ``field``, the one instance named like the machine, or every
    existing instance if ``broadcast`` (a plain trigger on a many-instance
    machine); with it, the ids in the event's field (``many`` for a list,
    ``text`` if already ``str``, ``optional`` if it may be None).
    """

    machine: str  # a string literal
    field: str | None
    many: bool
    text: bool
    optional: bool
    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class RouteCaseView:
    event: str  # the class of the input event or signal
    routes: tuple[RouteView, ...]


@dataclass(frozen=True, slots=True)
class DefinitionView:
    name: str
    category: str  # a string literal
    key_field: str  # a string literal
    events: tuple[str, ...]
    start_on: tuple[str, ...]
    cancel_on: tuple[str, ...]
    tasks: tuple[TaskSpecView, ...]
    machines: tuple[MachineSpecView, ...]
    transitions: tuple[TransitionRowView, ...]
    timers: tuple[TimerRowView, ...]
    wildcard_transitions: tuple[TransitionRowView, ...]
    wildcard_timers: tuple[TimerRowView, ...]
    complete_when: tuple[ConditionView, ...]
    fail_when: tuple[ConditionView, ...]
    lifecycle: tuple[LifecycleFieldView, ...]
    route_cases: tuple[RouteCaseView, ...]
    # API 3: the process record's model, the signals' classes, their routes.
    data_model: str | None = None
    signals: tuple[MemberView, ...] = ()  # name literal -> class
    signal_route_cases: tuple[RouteCaseView, ...] = ()


@dataclass(frozen=True, slots=True)
class ModuleView:
    header: tuple[str, ...]
    process: str
    source_name: str  # printable, for the docstring
    source_literal: str  # a string literal, for the runtime's API check
    api: int
    stdlib_imports: tuple[ImportView, ...]
    has_tasks: bool
    events: tuple[ClassView, ...]
    task_models: tuple[ClassView, ...]
    data_models: tuple[ClassView, ...]  # API 3: the process's and each machine's record
    signal_models: tuple[ClassView, ...]  # API 3
    uses_field_factory: bool  # a list or dict data field defaults to an empty one
    enums: tuple[EnumView, ...]
    lifecycle: tuple[LifecycleView, ...]
    protocol: ClassView
    protocol_methods: tuple[MethodView, ...]
    binders: tuple[BinderView, ...]  # API 1-2
    functions: tuple[FunctionView, ...]  # API 3: binders and every other clause
    definition: DefinitionView


# ---- building it -------------------------------------------------------------


def module_view(model: ProcessModel, *, header: Sequence[str], source_name: str) -> ModuleView:
    api = required_api(model)
    scoped = api >= SECOND_EDITION_API  # every function takes one ``rt.Scope``
    names = _function_names(model)
    binder_names = names["bind"]
    return ModuleView(
        header=tuple(header),
        process=model.name,
        source_name=printable(source_name),
        source_literal=py_str(source_name),
        api=api,
        stdlib_imports=_stdlib_imports(model),
        has_tasks=bool(model.tasks),
        events=tuple(_event_class(model, e.name, e.fields) for e in model.events),
        task_models=tuple(m for t in model.tasks for m in _task_classes(t)),
        data_models=tuple(_data_models(model)),
        signal_models=tuple(
            _plain_class(s.name, "rt.SignalPayload", f"The signal ``{s.name}``.", s.fields)
            for s in model.signals
        ),
        uses_field_factory=any(_default_factory(f) for f in _all_fields(model)),
        enums=tuple(_state_enum(m) for m in model.machines),
        lifecycle=_lifecycle_classes(model),
        protocol=ClassView(
            name=naming.tasks_protocol_name(model.name),
            base="Protocol",
            doc=f"The handlers of the {model.name} tasks: one method per task.",
            event_name=None,
            fields=(),
        ),
        protocol_methods=tuple(_protocol_method(t) for t in model.tasks),
        binders=()
        if scoped
        else tuple(
            _binder(model, machine, transition, binder_names[(machine.name, transition.name)])
            for machine, transition in _runs(model)
        ),
        functions=tuple(_functions(model, names)) if scoped else (),
        definition=_definition(model, names),
    )


# The function each clause of a transition compiles to, by its name prefix.
_CLAUSES: Mapping[str, Callable[[TransitionModel], bool]] = {
    "when": lambda t: t.guard is not None,
    "bind": lambda t: t.run is not None,
    "set": lambda t: bool(t.sets),
    "emit": lambda t: bool(t.emits),
    "at": lambda t: isinstance(t.trigger, DeadlineTriggerModel),
}
# clause -> (machine, transition) -> the function's name.
FunctionNames = Mapping[str, Mapping[tuple[str, str], str]]


def _function_names(model: ProcessModel) -> FunctionNames:
    return {
        clause: naming.binder_names(
            [(m.name, t.name) for m in model.machines for t in m.transitions if has(t)], clause
        )
        for clause, has in _CLAUSES.items()
    }


def _all_fields(model: ProcessModel) -> Iterable[FieldModel]:
    """Every field of every class the module defines."""
    yield from (f for e in model.events for f in e.fields)
    yield from (f for t in model.tasks for f in (*t.fields, *t.returns))
    yield from model.data
    yield from (f for m in model.machines for f in m.data)
    yield from (f for s in model.signals for f in s.fields)


def _runs(model: ProcessModel) -> Iterable[tuple[MachineModel, TransitionModel]]:
    for machine in model.machines:
        for transition in machine.transitions:
            if transition.run is not None:
                yield machine, transition


def _member(machine: str, state: str) -> str:
    """A state as its enum member, the one way every table names a state."""
    return f"{naming.state_enum_name(machine)}.{state}"


# ---- imports ---------------------------------------------------------------------

_STDLIB_IMPORTS: tuple[tuple[Primitive, str, str], ...] = (
    (Primitive.DATE, "datetime", "date"),
    (Primitive.DATETIME, "datetime", "datetime"),
    (Primitive.DECIMAL, "decimal", "Decimal"),
    (Primitive.UUID, "uuid", "UUID"),
)


def _stdlib_imports(model: ProcessModel) -> tuple[ImportView, ...]:
    used = set(primitives(model.key.type))
    for field in _all_fields(model):
        used |= primitives(field.type)
    names: dict[str, list[str]] = {"datetime": [], "decimal": [], "enum": ["StrEnum"]}
    names["typing"] = ["ClassVar", "Literal", "Protocol"]
    names["uuid"] = []
    for primitive, module, name in _STDLIB_IMPORTS:
        if primitive in used:
            names[module].append(name)
    return tuple(
        ImportView(module, tuple(sorted(names[module])))
        for module in sorted(names)
        if names[module]
    )


# ---- classes -----------------------------------------------------------------------


def _field(field: FieldModel) -> FieldView:
    default = value_literal(field.default, field.type) if field.has_default else None
    factory = _default_factory(field)
    if factory is not None:
        # A fresh empty value per record (ruff's RUF012 refuses a mutable default).
        default = f"_Field(default_factory={factory})"
    return FieldView(field.name, annotation(field.type), default)


def _default_factory(field: FieldModel) -> str | None:
    """``list`` or ``dict`` for a data field of that type whose default is empty."""
    if not field.has_default or field.default is not None:
        return None
    if isinstance(field.type, ListType):
        return "list"
    return "dict" if isinstance(field.type, DictType) else None


def _plain_class(name: str, base: str, doc: str, fields: Sequence[FieldModel]) -> ClassView:
    return ClassView(name, base, doc, None, tuple(_field(f) for f in fields))


def _data_models(model: ProcessModel) -> Iterable[ClassView]:
    if model.data:
        name = naming.data_model_name(model.name)
        doc = f"The data of a {model.name} process: one record per process."
        yield _plain_class(name, "rt.ProcessData", doc, model.data)
    for machine in model.machines:
        if machine.data:
            name = naming.data_model_name(machine.name)
            doc = f"The data of each instance of the machine ``{machine.name}``."
            yield _plain_class(name, "rt.ProcessData", doc, machine.data)


def _event_class(model: ProcessModel, name: str, fields: Sequence[FieldModel]) -> ClassView:
    return ClassView(
        name=name,
        base="rt.InputEvent",
        doc=f"The input event ``{name}``.",
        event_name=py_str(naming.event_type_name(model.name, name)),
        fields=tuple(_field(f) for f in fields),
    )


def _task_classes(task: TaskModel) -> Iterable[ClassView]:
    yield ClassView(
        name=task.name,
        base="rt.TaskInput",
        doc=f"The input of the task ``{task.name}``.",
        event_name=None,
        fields=tuple(_field(f) for f in task.fields),
    )
    if task.returns:
        yield ClassView(
            name=naming.result_model_name(task.name),
            base="rt.TaskResult",
            doc=f"What the task ``{task.name}`` returns.",
            event_name=None,
            fields=tuple(_field(f) for f in task.returns),
        )


def _state_enum(machine: MachineModel) -> EnumView:
    return EnumView(
        name=naming.state_enum_name(machine.name),
        doc=f"The states of the machine ``{machine.name}``.",
        members=tuple(MemberView(state, py_str(state)) for state in machine.states),
    )


def _narrowed(name: str, values: Iterable[str]) -> tuple[NarrowedView, ...]:
    """``name: Literal[...]``, narrowing a base field to the names this process uses."""
    unique = tuple(py_str(v) for v in dict.fromkeys(values))
    # With nothing to narrow to (no tasks, no timers) the base's type stays.
    return (NarrowedView(name, unique),) if unique else ()


def _lifecycle_classes(model: ProcessModel) -> tuple[LifecycleView, ...]:
    runs = list(_runs(model))
    emits = [(m, t) for m in model.machines for t in m.transitions if t.emits]
    emitted = {e.signal for _, t in emits for e in t.emits}
    timers = [(m, t) for m in model.machines for t in m.transitions if _is_timer(t.trigger)]
    outcome = NarrowingView(
        literals=(
            *_narrowed("machine", (m.name for m, _ in runs)),
            *_narrowed("transition", (t.name for _, t in runs)),
        )
    )
    narrowing: dict[str, NarrowingView] = {
        naming.Lifecycle.TRANSITION_PLANNED: _planned_narrowing(model),
        naming.Lifecycle.TASK_COMPLETED: outcome,
        naming.Lifecycle.TASK_FAILED: outcome,
        naming.Lifecycle.TIMER_SCHEDULED: NarrowingView(
            literals=(
                *_narrowed("machine", (m.name for m, _ in timers)),
                *_narrowed("transition", (t.name for _, t in timers)),
            )
        ),
        naming.SIGNAL_RAISED: NarrowingView(
            literals=(
                *_narrowed("signal", (s.name for s in model.signals if s.name in emitted)),
                *_narrowed("machine", (m.name for m, _ in emits)),
                *_narrowed("transition", (t.name for _, t in emits)),
            )
        ),
    }
    return tuple(
        LifecycleView(
            name=name,
            base=f"rt.{naming.lifecycle_base_name(name)}",
            process=model.name,
            event_name=py_str(naming.event_type_name(model.name, name)),
            narrowing=narrowing.get(name, NarrowingView()),
        )
        for name in _lifecycle_names(model)
    )


def _lifecycle_names(model: ProcessModel) -> tuple[str, ...]:
    """Every module's lifecycle events, and ``SignalRaised`` where signals are declared."""
    return (*naming.LIFECYCLE_EVENTS, *((naming.SIGNAL_RAISED,) if model.signals else ()))


def _planned_narrowing(model: ProcessModel) -> NarrowingView:
    machines = [m.name for m in model.machines]
    tasks = [t.run.task for _, t in _runs(model) if t.run]
    return NarrowingView(
        literals=(
            *_narrowed("machine", machines),
            *_narrowed("transition", (t.name for m in model.machines for t in m.transitions)),
        ),
        state_enums=tuple(naming.state_enum_name(m) for m in machines),
        optional_literals=(
            *_narrowed("task", tasks),
            *_narrowed("task_mode", (model.task(t).mode.value for t in tasks)),
        ),
        # Each machine's enum, for the states to be read back in; with one
        # machine the union of enums has one member: nothing to choose.
        machine_states=tuple(
            MachineStatesView(py_str(m), naming.state_enum_name(m)) for m in machines
        )
        if len(machines) > 1
        else (),
    )


def _is_timer(trigger: TriggerModel) -> bool:
    return isinstance(trigger, TimerTriggerModel | DeadlineTriggerModel)


def _protocol_method(task: TaskModel) -> MethodView:
    result = naming.result_model_name(task.name) if task.returns else "None"
    return MethodView(naming.task_method_name(task.name), task.name, result)


# ---- binding functions ---------------------------------------------------------------


def _payload_type(model: ProcessModel, trigger: TriggerModel) -> str:
    match trigger:
        case EventTriggerModel(event) | SelectorTriggerModel(event, _, _):
            return event
        case OutcomeTriggerModel(task, Outcome.COMPLETED):
            returns = model.task(task).returns
            return naming.result_model_name(task) if returns else "None"
        case OutcomeTriggerModel(_, Outcome.FAILED):
            return "rt.TaskFailure"
        case TimerTriggerModel() | DeadlineTriggerModel():
            return naming.Lifecycle.TIMER_FIRED
        case SignalTriggerModel(signal):
            return signal
    raise AssertionError(trigger)  # pragma: no cover - the match is exhaustive


def _payload_fields(model: ProcessModel, trigger: TriggerModel) -> Mapping[str, ValueType]:
    """The fields ``event.F`` may name: the payload's."""
    match trigger:
        case EventTriggerModel(event) | SelectorTriggerModel(event, _, _):
            fields: Sequence[FieldModel] = model.event(event).fields
        case OutcomeTriggerModel(task, Outcome.COMPLETED):
            fields = model.task(task).returns
        case OutcomeTriggerModel(_, Outcome.FAILED):
            return {"reason": PrimitiveType(Primitive.STR)}
        case SignalTriggerModel(signal):
            fields = model.signal(signal).fields
        case _:
            fields = ()
    return {f.name: f.type for f in fields}


def _binder(
    model: ProcessModel, machine: MachineModel, transition: TransitionModel, name: str
) -> BinderView:
    assert transition.run is not None
    task = model.task(transition.run.task)
    fields = {f.name: f for f in task.fields}
    return BinderView(
        name=name,
        payload_type=_payload_type(model, transition.trigger),
        key_type=annotation(model.key.type),
        task=task.name,
        args=tuple(_binding_arg(b, fields[b.field].type) for b in transition.run.bindings),
    )


def _binding_arg(binding: BindingModel, target: ValueType) -> ArgView:
    conversion = _conversion(binding.source_type, target)
    match binding.value:
        case LiteralExpr(value):
            literal = value_literal(value, target)
            return ArgView(binding.field, ArgSource.LITERAL, literal, conversion)
        case EventFieldExpr(field):
            return ArgView(binding.field, ArgSource.EVENT_FIELD, field, conversion)
        case MachineIdExpr():
            # Machine ids are text; semantics only binds them to ``str`` fields.
            return ArgView(binding.field, ArgSource.MACHINE_ID, "", conversion)
        case KeyExpr():
            return ArgView(binding.field, ArgSource.KEY, "", conversion)
    raise AssertionError(binding)  # pragma: no cover - the match is exhaustive


def _conversion(source: ValueType | None, target: ValueType) -> Conversion:
    """An ``int`` bound to a ``Decimal`` field is converted: pydantic would
    convert it, but mypy --strict does not take an `int` for a `Decimal`.
    """
    if source is None or not _is_decimal(target):
        return Conversion.NONE
    inner = source.inner if isinstance(source, OptionalType) else source
    if not (isinstance(inner, PrimitiveType) and inner.primitive is Primitive.INT):
        return Conversion.NONE
    if isinstance(source, OptionalType):
        return Conversion.OPTIONAL_DECIMAL
    return Conversion.DECIMAL


def _is_decimal(value_type: ValueType) -> bool:
    inner = value_type.inner if isinstance(value_type, OptionalType) else value_type
    return isinstance(inner, PrimitiveType) and inner.primitive is Primitive.DECIMAL


# ---- the functions of an API 3 module ------------------------------------------------------

_BOOL = PrimitiveType(Primitive.BOOL)
_SCOPE = "_s"  # the one parameter; no `.pm` name starts with `_`
_DATA = "_data"  # the process record a data condition reads
_KEY = "_key"  # the key, typed (``Scope.key`` is not)


def _record_type(owner: str, fields: Sequence[FieldModel]) -> str:
    return naming.data_model_name(owner) if fields else "rt.NoData"


def _functions(model: ProcessModel, names: FunctionNames) -> Iterable[FunctionView]:
    """Each transition's functions in the order of its clauses, then the data conditions."""
    for expr in _expressions(model):
        check_depth(expr)
    for machine in model.machines:
        for transition in machine.transitions:
            yield from _clause_functions(model, machine, transition, names)
    data = _record_type(model.name, model.data)
    refs = _condition_refs(model)
    for name, condition in (
        ("_complete_data", model.complete_data),
        ("_fail_data", model.fail_data),
    ):
        if condition is not None:
            body = python_expr(condition, refs, _BOOL)
            yield FunctionView(name, _DATA, data, "bool", body)


def _expressions(model: ProcessModel) -> Iterable[ExprModel]:
    """Every expression the functions compile."""
    for machine in model.machines:
        for t in machine.transitions:
            if t.guard is not None:
                yield t.guard
            bindings = [
                *(t.run.bindings if t.run else ()),
                *(b for e in t.emits for b in e.bindings),
            ]
            yield from (b.value for b in bindings)
            yield from (a.value for a in t.sets)
    yield from (e for e in (model.complete_data, model.fail_data) if e is not None)


def _condition_refs(model: ProcessModel) -> Refs:
    """A data condition reads the process record alone (semantics refuses the rest)."""
    data = {f.name: f.type for f in model.data}
    return Refs("", _DATA, "", "", "", {}, data, {}, model.key.type)


def _clause_functions(
    model: ProcessModel, machine: MachineModel, transition: TransitionModel, names: FunctionNames
) -> Iterable[FunctionView]:
    refs = Refs(
        event=f"{_SCOPE}.event",
        data=f"{_SCOPE}.data",
        instance=f"{_SCOPE}.instance",
        machine_id=f"{_SCOPE}.machine_id",
        key=_KEY,
        event_fields=_payload_fields(model, transition.trigger),
        data_fields={f.name: f.type for f in model.data},
        instance_fields={f.name: f.type for f in machine.data},
        key_type=model.key.type,
    )
    records = f"{_record_type(model.name, model.data)}, {_record_type(machine.name, machine.data)}"
    scope = f"rt.Scope[{_payload_type(model, transition.trigger)}, {records}]"
    key_type = annotation(model.key.type)

    def function(clause: str, returns: str, body: str) -> FunctionView:
        name = names[clause][(machine.name, transition.name)]
        # Read in the code, not the model: `key >= key` is written `True`.
        key = key_type if _KEY in names_read(body) else None
        return FunctionView(name, _SCOPE, scope, returns, body, key)

    if transition.guard is not None:
        body = python_expr(transition.guard, refs, _BOOL)
        yield function("when", "bool", body)
    if transition.run is not None:
        task = model.task(transition.run.task)
        body = _call(task.name, transition.run.bindings, task.fields, refs)
        yield function("bind", task.name, body)
    if transition.sets:
        body = _assignments(model, machine, transition, refs)
        yield function("set", "rt.Assignments", body)
    if transition.emits:
        calls = [
            _call(e.signal, e.bindings, model.signal(e.signal).fields, refs)
            for e in transition.emits
        ]
        body = f"({', '.join(calls)}{',' if len(calls) == 1 else ''})"
        yield function("emit", "tuple[rt.SignalPayload, ...]", body)
    if isinstance(transition.trigger, DeadlineTriggerModel):
        # Read on entering the source state, whatever entered it: no payload.
        due = DataFieldExpr(transition.trigger.scope, transition.trigger.field)
        at = function("at", "datetime | None", python_expr(due, refs))
        yield replace(at, annotation=f"rt.Scope[object, {records}]")


def _call(
    cls: str, bindings: Sequence[BindingModel], fields: Sequence[FieldModel], refs: Refs
) -> str:
    """``Cls(field=value, ...)``: a task's input or a signal's payload."""
    types = {f.name: f.type for f in fields}
    args = (
        f"{b.field}={_converted(b.value, b.source_type, types[b.field], refs)}" for b in bindings
    )
    return f"{cls}({', '.join(args)})"


def _assignments(
    model: ProcessModel, machine: MachineModel, transition: TransitionModel, refs: Refs
) -> str:
    types = {
        DataScope.DATA: {f.name: f.type for f in model.data},
        DataScope.INSTANCE: {f.name: f.type for f in machine.data},
    }
    parts = []
    for scope in DataScope:
        items = [
            f"{py_str(a.field)}: {_converted(a.value, a.source_type, types[scope][a.field], refs)}"
            for a in transition.sets
            if a.scope is scope
        ]
        if items:
            parts.append(f"{scope.value}={{{', '.join(items)}}}")
    return f"rt.Assignments({', '.join(parts)})"


def _converted(value: ExprModel, source: ValueType | None, target: ValueType, refs: Refs) -> str:
    """``value`` as a value of ``target``: an ``int`` into a ``Decimal`` converted."""
    conversion = _conversion(source, target)
    # What is converted is computed as it is typed: `Decimal(_s.event.n + 1)`.
    text = python_expr(value, refs, target if conversion is Conversion.NONE else source)
    match conversion:
        case Conversion.DECIMAL:
            return f"Decimal({text})"
        case Conversion.OPTIONAL_DECIMAL:
            return f"None if {python_operand(value, refs)} is None else Decimal({text})"
    return text


# ---- the definition class ----------------------------------------------------------------


def _definition(model: ProcessModel, names: FunctionNames) -> DefinitionView:
    trigger_events = _trigger_events(model)
    start = model.start_events if model.start_events is not None else trigger_events
    return DefinitionView(
        name=model.name,
        category=py_str(model.name),
        key_field=py_str(model.key.field),
        events=tuple(e.name for e in model.events),
        start_on=tuple(start),
        cancel_on=tuple(model.cancel_events),
        tasks=tuple(_task_spec(t) for t in model.tasks),
        machines=tuple(_machine_spec(m) for m in model.machines),
        transitions=tuple(_transition_rows(model, names, wildcard=False)),
        timers=_timer_rows(model, names),
        wildcard_transitions=tuple(_transition_rows(model, names, wildcard=True)),
        wildcard_timers=_wildcard_timer_rows(model, names),
        complete_when=(
            *(_condition(c) for c in model.complete_when),
            *_data_condition("_complete_data", model.complete_data),
        ),
        fail_when=(
            *(_condition(c) for c in model.fail_when),
            *_data_condition("_fail_data", model.fail_data),
        ),
        lifecycle=tuple(
            LifecycleFieldView(naming.snake_case(n), n) for n in _lifecycle_names(model)
        ),
        route_cases=tuple(_route_cases(model, signals=False)),
        data_model=naming.data_model_name(model.name) if model.data else None,
        signals=tuple(MemberView(s.name, py_str(s.name)) for s in model.signals),
        signal_route_cases=tuple(_route_cases(model, signals=True)),
    )


def _trigger_events(model: ProcessModel) -> tuple[str, ...]:
    used = {
        t.trigger.event
        for m in model.machines
        for t in m.transitions
        if isinstance(t.trigger, EventTriggerModel | SelectorTriggerModel)
    }
    return tuple(e.name for e in model.events if e.name in used)


def _machine_spec(machine: MachineModel) -> MachineSpecView:
    return MachineSpecView(
        name=py_str(machine.name),
        enum=naming.state_enum_name(machine.name),
        initial=_member(machine.name, machine.initial),
        final=tuple(_member(machine.name, s) for s in machine.final),
        multi_instance=machine.multi_instance,
        data=naming.data_model_name(machine.name) if machine.data else None,
    )


def _task_spec(task: TaskModel) -> TaskSpecView:
    retry = task.retry
    return TaskSpecView(
        name=py_str(task.name),
        mode=py_str(task.mode.value),
        input=task.name,
        result=naming.result_model_name(task.name) if task.returns else "None",
        method=py_str(naming.task_method_name(task.name)),
        retry=None
        if retry is None
        else RetryView(
            retries=retry.retries,
            delay=py_str(retry.delay_kind.value),
            delay_ms=retry.delay_ms,
            max_delay_ms=retry.max_delay_ms,
        ),
        timeout_ms=task.timeout_ms,
    )


def _trigger_key(trigger: TriggerModel, transition: str) -> str:
    match trigger:
        case EventTriggerModel(event) | SelectorTriggerModel(event, _, _):
            return on_event(event)
        case OutcomeTriggerModel(task, outcome):
            return on_outcome(task, "completed" if outcome is Outcome.COMPLETED else "failed")
        case TimerTriggerModel() | DeadlineTriggerModel():
            return on_timer(transition)
        case SignalTriggerModel(signal):
            return on_signal(signal)
    raise AssertionError(trigger)  # pragma: no cover - the match is exhaustive


def _transition_rows(
    model: ProcessModel, names: FunctionNames, *, wildcard: bool
) -> Iterable[TransitionRowView]:
    """One row per explicit source and trigger, or (``wildcard``) per trigger of ``*``.

    The runtime applies a wildcard row in every non-final state without a
    row of its own, which is what ``*`` expands to (an outcome ``*`` narrows
    to the states where the task can be in flight, the only states where its
    outcome arrives). A row holds the transitions of its state and trigger in
    source order (guarded ones, then the fallback): so a state whose own
    transitions share a trigger with a ``*`` one holds that one too, at its
    place, since the state's own row hides the wildcard row.
    """
    for machine in model.machines:
        rows: dict[tuple[str | None, str], list[TransitionModel]] = {}
        for transition in machine.transitions:
            if transition.from_wildcard is not wildcard:
                continue
            trigger = _trigger_key(transition.trigger, transition.name)
            sources: Sequence[str | None] = [None] if wildcard else transition.sources
            for source in sources:
                rows.setdefault((source, trigger), []).append(transition)
        if not wildcard:
            _merge_wildcards(machine, rows)
        for (source, trigger), transitions in rows.items():
            yield TransitionRowView(
                machine=py_str(machine.name),
                source=None if source is None else _member(machine.name, source),
                trigger=py_str(trigger),
                specs=tuple(_transition_spec(machine, t, names) for t in transitions),
            )


def _merge_wildcards(
    machine: MachineModel, rows: dict[tuple[str | None, str], list[TransitionModel]]
) -> None:
    """Add each ``*`` transition to the rows of its states that have a row of their own."""
    position = {t.name: i for i, t in enumerate(machine.transitions)}
    for transition in machine.transitions:
        if transition.from_wildcard:
            trigger = _trigger_key(transition.trigger, transition.name)
            for source in transition.sources:
                row = rows.get((source, trigger))
                if row is not None:
                    row.append(transition)
                    row.sort(key=lambda t: position[t.name])


def _transition_spec(
    machine: MachineModel, transition: TransitionModel, names: FunctionNames
) -> TransitionSpecView:
    key = (machine.name, transition.name)
    run = transition.run
    return TransitionSpecView(
        name=py_str(transition.name),
        target=_member(machine.name, transition.target),
        task=None if run is None else py_str(run.task),
        bind=names["bind"].get(key),
        guard=names["when"].get(key),
        assign=names["set"].get(key),
        emit=names["emit"].get(key),
        keep=tuple(py_str(task) for task in transition.keep),
    )


def _timer_spec(
    machine: MachineModel, transition: TransitionModel, names: FunctionNames
) -> TimerSpecView | None:
    match transition.trigger:
        case TimerTriggerModel(after_ms):
            return TimerSpecView(py_str(transition.name), after_ms)
        case DeadlineTriggerModel():
            at = names["at"][(machine.name, transition.name)]
            return TimerSpecView(py_str(transition.name), 0, at)
    return None


def _timer_rows(model: ProcessModel, names: FunctionNames) -> tuple[TimerRowView, ...]:
    by_state: dict[tuple[str, str], list[TimerSpecView]] = {}
    for machine in model.machines:
        for transition in machine.transitions:
            spec = _timer_spec(machine, transition, names)
            if spec is not None and not transition.from_wildcard:
                for source in transition.sources:
                    by_state.setdefault((machine.name, source), []).append(spec)
    return tuple(
        TimerRowView(py_str(machine), _member(machine, state), tuple(specs))
        for (machine, state), specs in by_state.items()
    )


def _wildcard_timer_rows(model: ProcessModel, names: FunctionNames) -> tuple[TimerRowView, ...]:
    """The timers of ``*`` transitions, per machine: scheduled after a state's own."""
    rows = []
    for machine in model.machines:
        specs = tuple(
            spec
            for transition in machine.transitions
            if transition.from_wildcard
            and (spec := _timer_spec(machine, transition, names)) is not None
        )
        if specs:
            rows.append(TimerRowView(py_str(machine.name), None, specs))
    return tuple(rows)


def _condition(condition: AllFinalCondition | AllInCondition | AnyInCondition) -> ConditionView:
    """A condition of ``complete when`` or ``fail when``, as the runtime's class."""
    if isinstance(condition, AllFinalCondition):
        return ConditionView("AllFinal", py_str(condition.machine))
    kind = "AllIn" if isinstance(condition, AllInCondition) else "AnyIn"
    states = tuple(_member(condition.machine, s) for s in condition.states)
    return ConditionView(kind, py_str(condition.machine), states)


def _data_condition(test: str, condition: ExprModel | None) -> tuple[ConditionView, ...]:
    """The data expression of ``complete when`` / ``fail when``, if any, with its text."""
    if condition is None:
        return ()
    return (ConditionView("DataCondition", test, text=py_str(expr_text(condition))),)


def required_api(model: ProcessModel) -> int:
    """The lowest runtime API that runs the module of ``model``.

    A module that uses nothing newer keeps declaring the API it did, so it
    still runs where it ran (``docs/design.md``, "The header").
    """
    if _second_edition(model):
        return SECOND_EDITION_API
    cases = _route_cases(model, signals=False)
    broadcasts = any(route.broadcast for case in cases for route in case.routes)
    return BROADCAST_API if broadcasts else WILDCARD_TABLES_API


def _second_edition(model: ProcessModel) -> bool:
    """Does ``model`` use data, signals, guards, ``set``, ``keep`` or ``at``?"""
    if model.data or model.signals:
        return True
    if model.complete_data is not None or model.fail_data is not None:
        return True
    return any(
        machine.data
        or transition.guard is not None
        or transition.keep
        or transition.sets
        or transition.emits
        or isinstance(transition.trigger, SignalTriggerModel | DeadlineTriggerModel)
        for machine in model.machines
        for transition in machine.transitions
    )


def _route_cases(model: ProcessModel, *, signals: bool) -> Iterable[RouteCaseView]:
    """Where each input event (or each signal) goes: a route per machine that takes it."""
    sources = model.signals if signals else model.events
    for source in sources:
        routes: dict[str, RouteView] = {}
        for machine in model.machines:
            for transition in machine.transitions:
                addressed = _addressed(transition.trigger, signals=signals)
                if addressed is None or addressed[0] != source.name:
                    continue
                field = addressed[1]
                routes[machine.name] = (
                    RouteView(
                        py_str(machine.name),
                        field=None,
                        many=False,
                        text=True,
                        optional=False,
                        broadcast=machine.multi_instance,
                    )
                    if field is None
                    else _selector_route(
                        machine.name, next(f for f in source.fields if f.name == field)
                    )
                )
                break
        if routes:
            yield RouteCaseView(source.name, tuple(routes.values()))


def _addressed(trigger: TriggerModel, *, signals: bool) -> tuple[str, str | None] | None:
    """The input event (or signal) ``trigger`` names, and its selector field if any."""
    match trigger:
        case EventTriggerModel(event) if not signals:
            return event, None
        case SelectorTriggerModel(event, field, _) if not signals:
            return event, field
        case SignalTriggerModel(signal, field, _) if signals:
            return signal, field
    return None


def _selector_route(machine: str, field: FieldModel) -> RouteView:
    """The ids in a selector field: one or a list, text or not, maybe None."""
    optional = isinstance(field.type, OptionalType)
    inner = field.type.inner if isinstance(field.type, OptionalType) else field.type
    many = isinstance(inner, ListType)
    item = inner.item if isinstance(inner, ListType) else inner
    text = isinstance(item, PrimitiveType) and item.primitive is Primitive.STR
    return RouteView(py_str(machine), field.name, many=many, text=text, optional=optional)
