"""The view model: everything the templates print, decided here.

Names come from :mod:`pmc.naming`, values go through :mod:`.literals`, and
lines are laid out by :mod:`.layout`; templates only loop and branch. Order
is the source order kept by the model, so the output is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pmc import naming
from pmc.codegen.formatter import LINE_LENGTH
from pmc.codegen.layout import assignment, bracketed, docstring, tuple_display
from pmc.codegen.literals import annotation, primitives, py_str, value_literal
from pmc.runtime.contract import RUNTIME_API, on_event, on_outcome, on_timer
from pmc.semantics.model import (
    AllFinalCondition,
    AllInCondition,
    BindingModel,
    EventFieldExpr,
    EventTriggerModel,
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
    TaskModel,
    TimerTriggerModel,
    TransitionModel,
    TriggerModel,
    ValueType,
)

# ---- the view model ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassView:
    """A class with a docstring, an optional ``__event_name__`` and field lines."""

    name: str
    base: str
    doc: str
    event_name: str | None  # a Python string literal
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EnumView:
    name: str
    doc: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FunctionView:
    """A function: its ``def`` line(s) and the lines of its body."""

    signature: str
    body: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RouteCase:
    pattern: str
    result: str


@dataclass(frozen=True, slots=True)
class DefinitionView:
    name: str
    doc: str
    tables: tuple[str, ...]  # module-level assignments the attributes name
    attributes: tuple[str, ...]
    route_event: str  # the parameter of ``route``
    route_cases: tuple[RouteCase, ...]
    instance: str


@dataclass(frozen=True, slots=True)
class ModuleView:
    header: tuple[str, ...]
    doc: str
    imports: tuple[str, ...]
    api_check: str  # the call that fails the import on a runtime without this API
    events: tuple[ClassView, ...]
    task_models: tuple[ClassView, ...]
    enums: tuple[EnumView, ...]
    lifecycle: tuple[ClassView, ...]
    protocol: ClassView
    protocol_methods: tuple[str, ...]
    binders: tuple[FunctionView, ...]
    definition: DefinitionView


# ---- building it -------------------------------------------------------------


def module_view(model: ProcessModel, *, header: Sequence[str], source_name: str) -> ModuleView:
    binder_names = _binder_names(model)
    return ModuleView(
        header=tuple(header),
        doc=docstring(0, f"The {model.name} process, generated from {printable(source_name)}."),
        imports=_imports(model),
        api_check=f"rt.require_api({RUNTIME_API}, source={py_str(source_name)})",
        events=tuple(_event_class(model, e.name, e.fields) for e in model.events),
        task_models=tuple(m for t in model.tasks for m in _task_classes(t)),
        enums=tuple(_state_enum(m) for m in model.machines),
        lifecycle=_lifecycle_classes(model),
        protocol=ClassView(
            name=naming.tasks_protocol_name(model.name),
            base="Protocol",
            doc=docstring(4, f"The handlers of the {model.name} tasks: one method per task."),
            event_name=None,
            fields=(),
        ),
        protocol_methods=tuple(_protocol_method(t) for t in model.tasks),
        binders=tuple(
            _binder(model, machine, transition, binder_names[(machine.name, transition.name)])
            for machine, transition in _runs(model)
        ),
        definition=_definition(model, binder_names),
    )


def printable(text: str) -> str:
    """``text`` for a comment or docstring: no line breaks or other control characters."""
    if text.isprintable() and '"""' not in text and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', "\\x22")


def _runs(model: ProcessModel) -> Iterable[tuple[MachineModel, TransitionModel]]:
    for machine in model.machines:
        for transition in machine.transitions:
            if transition.run is not None:
                yield machine, transition


# ---- imports ---------------------------------------------------------------------

_STDLIB_IMPORTS: tuple[tuple[Primitive, str, str], ...] = (
    (Primitive.DATE, "datetime", "date"),
    (Primitive.DATETIME, "datetime", "datetime"),
    (Primitive.DECIMAL, "decimal", "Decimal"),
    (Primitive.UUID, "uuid", "UUID"),
)


def _imports(model: ProcessModel) -> tuple[str, ...]:
    used = set(primitives(model.key.type))
    fields = [f for e in model.events for f in e.fields]
    fields += [f for t in model.tasks for f in (*t.fields, *t.returns)]
    for field in fields:
        used |= primitives(field.type)
    names: dict[str, list[str]] = {"datetime": [], "decimal": [], "enum": ["StrEnum"]}
    names["typing"] = ["ClassVar", "Literal", "Protocol"]
    names["uuid"] = []
    for primitive, module, name in _STDLIB_IMPORTS:
        if primitive in used:
            names[module].append(name)
    lines = ["from __future__ import annotations", ""]
    for module in sorted(names):
        if names[module]:
            lines.append(f"from {module} import {', '.join(sorted(names[module]))}")
    lines += ["", "import pmc.runtime as rt", "from event_sourcery import Event"]
    if model.tasks:
        # `Returns` as `_Returns`: see _protocol_method.
        lines.append("from pmc.runtime import Returns as _Returns")
        lines.append("from pmc.runtime import TaskContext")
    return tuple(lines)


# ---- classes -----------------------------------------------------------------------


def _field_line(field: FieldModel, indent: int = 4) -> str:
    target = f"{field.name}: {annotation(field.type)}"
    if not field.has_default:
        return target
    return assignment(indent, target, value_literal(field.default, field.type))


def _event_class(model: ProcessModel, name: str, fields: Sequence[FieldModel]) -> ClassView:
    return ClassView(
        name=name,
        base="rt.InputEvent",
        doc=docstring(4, f"The input event ``{name}``."),
        event_name=py_str(naming.event_type_name(model.name, name)),
        fields=tuple(_field_line(f) for f in fields),
    )


def _task_classes(task: TaskModel) -> Iterable[ClassView]:
    yield ClassView(
        name=task.name,
        base="rt.TaskInput",
        doc=docstring(4, f"The input of the task ``{task.name}``."),
        event_name=None,
        fields=tuple(_field_line(f) for f in task.fields),
    )
    if task.returns:
        yield ClassView(
            name=naming.result_model_name(task.name),
            base="rt.TaskResult",
            doc=docstring(4, f"What the task ``{task.name}`` returns."),
            event_name=None,
            fields=tuple(_field_line(f) for f in task.returns),
        )


def _state_enum(machine: MachineModel) -> EnumView:
    return EnumView(
        name=naming.state_enum_name(machine.name),
        doc=docstring(4, f"The states of the machine ``{machine.name}``."),
        members=tuple(assignment(4, state, py_str(state)) for state in machine.states),
    )


def _override(name: str, values: Iterable[str], optional: bool = False) -> tuple[str, ...]:
    """``name: Literal[...]``, narrowing a base field to the names this process uses."""
    unique = [py_str(v) for v in dict.fromkeys(values)]
    # With nothing to narrow to (no tasks, no timers) the base's type stays.
    if not unique:
        return ()
    if not optional:
        return (bracketed(4, f"{name}: Literal[", unique, "]"),)
    # ``Literal[...] | None``, not ``Literal[..., None]`` (ruff's PYI061).
    # Too long for one line, ruff parenthesizes the union and splits it.
    one_line = bracketed(4, f"{name}: Literal[", unique, "] | None = None")
    if "\n" not in one_line:
        return (one_line,)
    literal = bracketed(8, "Literal[", unique, "]")
    return (f"{name}: (\n        {literal}\n        | None\n    ) = None",)


def _lifecycle_classes(model: ProcessModel) -> tuple[ClassView, ...]:
    machines = [m.name for m in model.machines]
    transitions = [t.name for m in model.machines for t in m.transitions]
    runs = list(_runs(model))
    timers = [(m, t) for m in model.machines for t in m.transitions if _is_timer(t.trigger)]
    states = " | ".join(naming.state_enum_name(m) for m in machines)
    overrides: dict[str, tuple[str, ...]] = {
        "TransitionPlanned": (
            *_override("machine", machines),
            *_override("transition", transitions),
            f"from_state: {states}",
            f"to_state: {states}",
            *_override("task", (t.run.task for _, t in runs if t.run), optional=True),
            *_override(
                "task_mode",
                (model.task(t.run.task).mode.value for _, t in runs if t.run),
                optional=True,
            ),
            *_machine_states(machines),
        ),
        "TaskCompleted": _task_outcome_overrides(runs),
        "TaskFailed": _task_outcome_overrides(runs),
        "TimerScheduled": (
            *_override("machine", (m.name for m, _ in timers)),
            *_override("transition", (t.name for _, t in timers)),
        ),
    }
    return tuple(
        ClassView(
            name=name,
            base=f"rt.{name}Base",
            doc=docstring(4, f"``{name}`` in a {model.name} stream."),
            event_name=py_str(naming.event_type_name(model.name, name)),
            fields=overrides.get(name, ()),
        )
        for name in naming.LIFECYCLE_EVENTS
    )


def _machine_states(machines: Sequence[str]) -> tuple[str, ...]:
    """Each machine's enum, for the states of a ``TransitionPlanned`` to be read back in.

    With one machine the union of enums has one member: nothing to choose.
    """
    if len(machines) < 2:
        return ()
    items = [_dict_item(8, py_str(m), naming.state_enum_name(m)) for m in machines]
    return (bracketed(4, "machine_states: ClassVar[dict[str, type[StrEnum]]] = {", items, "}"),)


def _dict_item(indent: int, key: str, value: str) -> str:
    """``key: value,`` in an exploded dict; a value too long for the line goes in parentheses.

    (ruff cannot split a long name, and keeps the parentheses it finds.)
    """
    item = f"{key}: {value}"
    if indent + len(item) + 1 <= LINE_LENGTH:
        return item
    return f"{key}: (\n{' ' * (indent + 4)}{value}\n{' ' * indent})"


def _task_outcome_overrides(
    runs: Sequence[tuple[MachineModel, TransitionModel]],
) -> tuple[str, ...]:
    return (
        *_override("machine", (m.name for m, _ in runs)),
        *_override("transition", (t.name for _, t in runs)),
    )


def _is_timer(trigger: TriggerModel) -> bool:
    return isinstance(trigger, TimerTriggerModel)


def _protocol_method(task: TaskModel) -> str:
    # What the runtime records as the outcome: a task that ``returns`` must
    # return its result (``None`` fails the attempt), any other returns None.
    # ``Returns`` admits ``async def`` handlers too, which the runtime awaits.
    # In the class body a method hides a module-level name it shares (a task
    # `Rt` is the method `rt`, which hid the module `rt` from every later
    # signature), so the body names nothing a method name can be: `_Returns`
    # (no `.pm` name starts with `_`), `TaskContext` and `<Task>Result` (a
    # method name has no capital), and the task's own input class, which only
    # its own method, defined after its signature, may share a name with.
    returns = naming.result_model_name(task.name) if task.returns else "None"
    return bracketed(
        4,
        f"def {naming.task_method_name(task.name)}(",
        ["self", f"task: {task.name}", "ctx: TaskContext"],
        f") -> _Returns[{returns}]: ...",
    )


# ---- binding functions ---------------------------------------------------------------


def _binder_names(model: ProcessModel) -> dict[tuple[str, str], str]:
    """``_bind_<transition>``, with the machine added where two machines share a name."""
    runs = list(_runs(model))
    counts: dict[str, int] = {}
    for _, transition in runs:
        counts[transition.name] = counts.get(transition.name, 0) + 1
    names: dict[tuple[str, str], str] = {}
    taken: set[str] = set()
    for machine, transition in runs:
        base = f"_bind_{transition.name}"
        if counts[transition.name] > 1:
            base = f"_bind_{naming.snake_case(machine.name)}_{transition.name}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names[(machine.name, transition.name)] = name
    return names


def _payload_type(model: ProcessModel, trigger: TriggerModel) -> str:
    match trigger:
        case EventTriggerModel(event) | SelectorTriggerModel(event, _, _):
            return event
        case OutcomeTriggerModel(task, Outcome.COMPLETED):
            returns = model.task(task).returns
            return naming.result_model_name(task) if returns else "None"
        case OutcomeTriggerModel(_, Outcome.FAILED):
            return "rt.TaskFailure"
        case TimerTriggerModel():
            return "TimerFired"
    raise AssertionError(trigger)  # pragma: no cover - the match is exhaustive


# The parameters of the generated functions (``route`` and the binding
# functions) start with `_`, which no `.pm` name may (PM0105): a parameter
# named like a class would hide it in the body, and an event named `event`
# would have been matched by ``case event():``.
_PAYLOAD = "_event"
_MACHINE_ID = "_machine_id"
_KEY = "_key"


def _binder(
    model: ProcessModel, machine: MachineModel, transition: TransitionModel, name: str
) -> FunctionView:
    assert transition.run is not None
    task = model.task(transition.run.task)
    params = [
        f"{_PAYLOAD}: {_payload_type(model, transition.trigger)}",
        f"{_MACHINE_ID}: str",
        f"{_KEY}: {annotation(model.key.type)}",
    ]
    signature = bracketed(0, f"def {name}(", params, f") -> {task.name}:")
    fields = {f.name: f for f in task.fields}
    args = [
        _converted(_binding_arg(b, fields[b.field].type), b, fields[b.field].type)
        for b in transition.run.bindings
    ]
    body = bracketed(4, f"return {task.name}(", args, ")")
    return FunctionView(signature=signature, body=(body,))


def _binding_arg(binding: BindingModel, target: ValueType) -> str:
    match binding.value:
        case LiteralExpr(value):
            return f"{binding.field}={value_literal(value, target)}"
        case EventFieldExpr(field):
            return f"{binding.field}={_PAYLOAD}.{field}"
        case MachineIdExpr():
            # Machine ids are text; semantics only binds them to ``str`` fields.
            return f"{binding.field}={_MACHINE_ID}"
        case KeyExpr():
            return f"{binding.field}={_KEY}"
    raise AssertionError(binding)  # pragma: no cover - the match is exhaustive


def _converted(arg: str, binding: BindingModel, target: ValueType) -> str:
    """``arg`` with an `int` value made a `Decimal` for a `Decimal` field.

    Semantics lets an `int` fit a `Decimal` (PM0603), and pydantic would
    convert it, but mypy --strict does not take an `int` for a `Decimal`.
    """
    source = binding.source_type
    if source is None or not _is_decimal(target):
        return arg
    inner = source.inner if isinstance(source, OptionalType) else source
    if not (isinstance(inner, PrimitiveType) and inner.primitive is Primitive.INT):
        return arg
    name, value = arg.split("=", 1)
    if isinstance(source, OptionalType):
        return f"{name}=None if {value} is None else Decimal({value})"
    return f"{name}=Decimal({value})"


def _is_decimal(value_type: ValueType) -> bool:
    inner = value_type.inner if isinstance(value_type, OptionalType) else value_type
    return isinstance(inner, PrimitiveType) and inner.primitive is Primitive.DECIMAL


# ---- the definition class ----------------------------------------------------------------


# The tables that name a class the user named (an event, a task's input or
# result) are bound at module level, under names no `.pm` name can take
# (PM0105: none starts with `_`), and the class body refers to them. In the
# class body itself, an attribute assigned earlier would hide a class of the
# same name: a task named `events` would have become the tuple of events.
# The other tables name only generated classes (``<Machine>State``), and no
# attribute of the definition has a capital letter.
_EVENTS = "_EVENTS"
_START_ON = "_START_ON"
_CANCEL_ON = "_CANCEL_ON"
_TASKS = "_TASKS"


def _definition(model: ProcessModel, binder_names: dict[tuple[str, str], str]) -> DefinitionView:
    trigger_events = _trigger_events(model)
    start = model.start_events if model.start_events is not None else trigger_events
    tables = (
        tuple_display(0, f"{_EVENTS} = ", [e.name for e in model.events]),
        tuple_display(0, f"{_START_ON} = ", list(start)),
        tuple_display(0, f"{_CANCEL_ON} = ", list(model.cancel_events)),
        bracketed(0, f"{_TASKS}: rt.TaskTable = {{", [_task_entry(t) for t in model.tasks], "}"),
    )
    attributes = (
        f"api = {RUNTIME_API}",
        f"category = {py_str(model.name)}",
        f"key_field = {py_str(model.key.field)}",
        f"events = {_EVENTS}",
        f"start_on = {_START_ON}",
        f"cancel_on = {_CANCEL_ON}",
        _tuple_attr("machines", [_machine_spec(m) for m in model.machines]),
        f"tasks = {_TASKS}",
        _dict_attr("transitions", "rt.TransitionTable", _transition_entries(model, binder_names)),
        _dict_attr("timers", "rt.TimerTable", _timer_entries(model)),
        _dict_attr(
            "wildcard_transitions", "rt.WildcardTable", _wildcard_entries(model, binder_names)
        ),
        _dict_attr("wildcard_timers", "rt.WildcardTimerTable", _wildcard_timer_entries(model)),
        _tuple_attr("complete_when", [_condition(c) for c in model.complete_when]),
        _tuple_attr(
            "fail_when",
            [
                f"rt.AnyIn({py_str(c.machine)}, {_states([py_str(s) for s in c.states])})"
                for c in model.fail_when
            ],
        ),
        bracketed(
            4,
            "lifecycle = rt.LifecycleTypes(",
            [f"{naming.snake_case(n)}={n}" for n in naming.LIFECYCLE_EVENTS],
            ")",
        ),
    )
    return DefinitionView(
        name=model.name,
        doc=docstring(
            4,
            f"The {model.name} process: its tables and ``route``.",
            "``decide``, ``evolve`` and the rest come from ``rt.ProcessDefinition``.",
        ),
        tables=tables,
        attributes=attributes,
        route_event=_PAYLOAD,
        route_cases=tuple(_route_cases(model)),
        instance="DEFINITION",
    )


def _trigger_events(model: ProcessModel) -> tuple[str, ...]:
    used = {
        t.trigger.event
        for m in model.machines
        for t in m.transitions
        if isinstance(t.trigger, EventTriggerModel | SelectorTriggerModel)
    }
    return tuple(e.name for e in model.events if e.name in used)


def _tuple_attr(name: str, items: Sequence[str]) -> str:
    return tuple_display(4, f"{name} = ", items)


def _dict_attr(name: str, table_type: str, entries: Sequence[str]) -> str:
    return bracketed(4, f"{name}: ClassVar[{table_type}] = {{", entries, "}")


def _states(items: Sequence[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def _machine_spec(machine: MachineModel) -> str:
    enum = naming.state_enum_name(machine.name)
    final = tuple_display(12, "final=", [f"{enum}.{s}" for s in machine.final], reserve=1)
    return bracketed(
        8,
        "rt.MachineSpec(",
        [
            f"name={py_str(machine.name)}",
            f"states={enum}",
            f"initial={enum}.{machine.initial}",
            final,
            f"multi_instance={machine.multi_instance}",
        ],
        ")",
        reserve=1,
    )


def _task_entry(task: TaskModel) -> str:
    """An entry of the module-level task table (its items at column 4)."""
    result = naming.result_model_name(task.name) if task.returns else "None"
    retry = "retry=None"
    if task.retry is not None:
        retry = bracketed(
            8,
            "retry=rt.RetrySpec(",
            [
                f"retries={task.retry.retries}",
                f"delay={py_str(task.retry.delay_kind.value)}",
                f"delay_ms={task.retry.delay_ms}",
                f"max_delay_ms={task.retry.max_delay_ms}",
            ],
            ")",
            reserve=1,
        )
    return bracketed(
        4,
        f"{py_str(task.name)}: rt.TaskSpec(",
        [
            f"name={py_str(task.name)}",
            f"mode={py_str(task.mode.value)}",
            f"input={task.name}",
            f"result={result}",
            f"method={py_str(naming.task_method_name(task.name))}",
            retry,
            f"timeout_ms={task.timeout_ms}",
        ],
        ")",
        reserve=1,
    )


def _trigger_key(trigger: TriggerModel, transition: str) -> str:
    match trigger:
        case EventTriggerModel(event) | SelectorTriggerModel(event, _, _):
            return on_event(event)
        case OutcomeTriggerModel(task, outcome):
            return on_outcome(task, "completed" if outcome is Outcome.COMPLETED else "failed")
        case TimerTriggerModel():
            return on_timer(transition)
    raise AssertionError(trigger)  # pragma: no cover - the match is exhaustive


def _spec_args(
    machine: MachineModel, transition: TransitionModel, binder_names: dict[tuple[str, str], str]
) -> list[str]:
    args = [f"name={py_str(transition.name)}", f"target={py_str(transition.target)}"]
    if transition.run is not None:
        args.append(f"task={py_str(transition.run.task)}")
        args.append(f"bind={binder_names[(machine.name, transition.name)]}")
    return args


def _transition_entries(model: ProcessModel, binder_names: dict[tuple[str, str], str]) -> list[str]:
    """One row per explicit source; transitions written with ``*`` get a wildcard row instead."""
    entries = []
    for machine in model.machines:
        for transition in machine.transitions:
            if transition.from_wildcard:
                continue
            args = _spec_args(machine, transition, binder_names)
            trigger = py_str(_trigger_key(transition.trigger, transition.name))
            for source in transition.sources:
                key = f"({py_str(machine.name)}, {py_str(source)}, {trigger})"
                head = f"{key}: rt.TransitionSpec("
                entries.append(bracketed(8, head, args, ")", reserve=1))
    return entries


def _wildcard_entries(model: ProcessModel, binder_names: dict[tuple[str, str], str]) -> list[str]:
    """``(machine, trigger)`` rows of the transitions written with ``*``.

    The runtime applies one in every non-final state without a row of its
    own, which is what ``*`` expands to: the semantic checks refuse another
    transition on the same state and trigger, and an outcome ``*`` narrows
    to the states where the task can be in flight, the only states where
    its outcome arrives.
    """
    entries = []
    for machine in model.machines:
        for transition in machine.transitions:
            if not transition.from_wildcard:
                continue
            args = _spec_args(machine, transition, binder_names)
            trigger = py_str(_trigger_key(transition.trigger, transition.name))
            head = f"({py_str(machine.name)}, {trigger}): rt.TransitionSpec("
            entries.append(bracketed(8, head, args, ")", reserve=1))
    return entries


def _timer_spec(transition: TransitionModel) -> str | None:
    if not isinstance(transition.trigger, TimerTriggerModel):
        return None
    return (
        f"rt.TimerSpec(transition={py_str(transition.name)},"
        f" after_ms={transition.trigger.after_ms})"
    )


def _timer_entries(model: ProcessModel) -> list[str]:
    by_state: dict[tuple[str, str], list[str]] = {}
    for machine in model.machines:
        for transition in machine.transitions:
            spec = _timer_spec(transition)
            if spec is not None and not transition.from_wildcard:
                for source in transition.sources:
                    by_state.setdefault((machine.name, source), []).append(spec)
    return [
        tuple_display(8, f"({py_str(machine)}, {py_str(state)}): ", specs, reserve=1)
        for (machine, state), specs in by_state.items()
    ]


def _wildcard_timer_entries(model: ProcessModel) -> list[str]:
    """The timers of ``*`` transitions, per machine: scheduled after a state's own."""
    entries = []
    for machine in model.machines:
        specs = [
            spec
            for transition in machine.transitions
            if transition.from_wildcard and (spec := _timer_spec(transition)) is not None
        ]
        if specs:
            entries.append(tuple_display(8, f"{py_str(machine.name)}: ", specs, reserve=1))
    return entries


def _condition(condition: AllFinalCondition | AllInCondition) -> str:
    if isinstance(condition, AllFinalCondition):
        return f"rt.AllFinal({py_str(condition.machine)})"
    states = _states([py_str(s) for s in condition.states])
    return f"rt.AllIn({py_str(condition.machine)}, {states})"


def _route_cases(model: ProcessModel) -> Iterable[RouteCase]:
    for event in model.events:
        routes: dict[str, str] = {}
        for machine in model.machines:
            for transition in machine.transitions:
                trigger = transition.trigger
                if machine.name in routes:
                    break
                if isinstance(trigger, EventTriggerModel) and trigger.event == event.name:
                    routes[machine.name] = f"({py_str(machine.name)},)"
                elif isinstance(trigger, SelectorTriggerModel) and trigger.event == event.name:
                    field = next(f for f in event.fields if f.name == trigger.field)
                    routes[machine.name] = _ids_expr(f"{_PAYLOAD}.{field.name}", field.type)
        if routes:
            items = [f"rt.Route({py_str(m)}, {ids})" for m, ids in routes.items()]
            yield RouteCase(
                pattern=f"{event.name}()",
                result=bracketed(16, "return [", items, "]"),
            )


def _ids_expr(access: str, value_type: ValueType) -> str:
    """A tuple of instance ids (text) from a selector field."""
    if isinstance(value_type, OptionalType):
        return f"() if {access} is None else {_ids_expr(access, value_type.inner)}"
    if isinstance(value_type, ListType):
        if _is_str(value_type.item):
            return f"tuple({access})"
        return f"tuple(str(i) for i in {access})"
    return f"({access},)" if _is_str(value_type) else f"(str({access}),)"


def _is_str(value_type: ValueType) -> bool:
    return isinstance(value_type, PrimitiveType) and value_type.primitive is Primitive.STR
