"""The machines of a process as state diagrams: Mermaid and Graphviz DOT.

Pure functions from the validated model to text. Nothing from the ``.pm``
file reaches the output unescaped: diagram ids are built from positions
(``m0_s1``), never from names, and every name appears only inside a label
that is escaped for the target syntax. The output is deterministic: it
follows the model's source order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from pmc.errors import PmcError
from pmc.semantics.expressions import expr_text
from pmc.semantics.model import (
    DeadlineTriggerModel,
    EventTriggerModel,
    MachineModel,
    OutcomeTriggerModel,
    ProcessModel,
    RetryDelayKind,
    RetryPolicy,
    SelectorTriggerModel,
    SignalTriggerModel,
    TaskModel,
    TimerTriggerModel,
    TransitionModel,
)

# Mermaid cannot dash or dot a single edge, so its labels carry a mark instead.
_TIMER_MARK = "\u23f1"  # ⏱
_SIGNAL_MARK = "\u26a1"  # ⚡
_WILDCARD_LABEL = "* (any non-final state)"
# The legend of signals: who emits each one, and who handles it.
_SIGNALS_ID = "signals"
_SIGNALS_LABEL = f"{_SIGNAL_MARK} signals"
_INDENT = "    "

# (unit, milliseconds), largest first: a duration prints in the largest unit
# that divides it, the way it would be written in a `.pm` file.
_UNITS: tuple[tuple[str, int], ...] = (
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
)


class UnknownMachineError(PmcError, ValueError):
    """``machine=`` names no machine of the process."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"no machine `{name}` in this process (machines: {', '.join(known)})")


# ---- what a diagram shows, independent of its syntax -------------------------------


class EdgeKind(StrEnum):
    """What triggers an edge, for the line style DOT gives it."""

    PLAIN = "plain"  # an input event or a task outcome
    TIMER = "timer"  # `after` or `at`: dashed
    SIGNAL = "signal"  # a signal: dotted


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # a diagram id
    target: str
    label: str
    kind: EdgeKind


@dataclass(frozen=True, slots=True)
class SignalView:
    """A legend entry: one signal, who emits it and who handles it."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class MachineView:
    """One machine laid out for drawing; ids are positional, labels are raw text."""

    id: str
    label: str
    states: tuple[tuple[str, str], ...]  # (id, state name)
    initial: str  # id
    final: tuple[str, ...]  # ids
    wildcard: str | None  # id of the "any non-final state" node, if a `*` transition exists
    edges: tuple[Edge, ...]


def format_duration(milliseconds: int) -> str:
    """``120000`` -> ``2m``; ``1500`` -> ``1500ms``."""
    for unit, size in _UNITS:
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


def _retry_text(retry: RetryPolicy) -> str:
    parts = [f"retry {retry.retries}"]
    if retry.delay_kind is not RetryDelayKind.NONE:
        parts.append(f"{retry.delay_kind} {format_duration(retry.delay_ms)}")
    if retry.max_delay_ms is not None:
        parts.append(f"max {format_duration(retry.max_delay_ms)}")
    return " ".join(parts)


def task_summary(task: TaskModel) -> str:
    """``async, retry 3 backoff 2s max 1m, timeout 30s``."""
    parts = [str(task.mode)]
    if task.retry is not None:
        parts.append(_retry_text(task.retry))
    if task.timeout_ms is not None:
        parts.append(f"timeout {format_duration(task.timeout_ms)}")
    return ", ".join(parts)


def trigger_text(transition: TransitionModel, *, many: bool) -> str:
    """The trigger as written, and ``(all)`` after a broadcast.

    On a machine of ``many`` instances, a plain event addresses every
    instance whose state accepts it; a reader of the drawing must see that.
    """
    trigger = transition.trigger
    match trigger:
        case EventTriggerModel(event=event):
            return f"{event} (all)" if many else event
        case SelectorTriggerModel(event=event, field=field):
            return f"{event}.{field}"
        case OutcomeTriggerModel(task=task, outcome=outcome):
            return f"{task} {outcome}"
        case TimerTriggerModel(after_ms=after_ms):
            return f"after {format_duration(after_ms)}"
        case SignalTriggerModel(signal=signal, field=None):
            return f"{signal} (all)" if many else signal
        case SignalTriggerModel(signal=signal, field=field):
            return f"{signal}.{field}"
        case DeadlineTriggerModel(scope=scope, field=field):
            return f"at {scope}.{field}"


def edge_kind(transition: TransitionModel) -> EdgeKind:
    match transition.trigger:
        case TimerTriggerModel() | DeadlineTriggerModel():
            return EdgeKind.TIMER
        case SignalTriggerModel():
            return EdgeKind.SIGNAL
        case _:
            return EdgeKind.PLAIN


_MARKS = {EdgeKind.TIMER: _TIMER_MARK, EdgeKind.SIGNAL: _SIGNAL_MARK}


def _clauses(process: ProcessModel, transition: TransitionModel) -> Iterator[str]:
    """The clauses after the trigger, in `.pm` order: when, keep, run, set, emit.

    ``set`` names the fields it writes, not the values: the label says what
    a transition touches; the `.pm` file says how.
    """
    if transition.guard is not None:
        yield f"[{expr_text(transition.guard)}]"
    if transition.keep:
        yield f"keep {', '.join(transition.keep)}"
    if transition.run is not None:
        task = process.task(transition.run.task)
        yield f"/ run {task.name} ({task_summary(task)})"
    if transition.sets:
        yield f"set {', '.join(f'{a.scope}.{a.field}' for a in transition.sets)}"
    if transition.emits:
        yield f"emit {', '.join(e.signal for e in transition.emits)}"


def transition_label(
    process: ProcessModel, machine: MachineModel, transition: TransitionModel, marks: bool
) -> str:
    """``close: RebaseFailed.instances [data.n > 0] / run CloseInstance (async) emit Closed``.

    With ``marks``, a timer's trigger starts with ⏱ and a signal's with ⚡,
    for a syntax that cannot style one edge.
    """
    trigger = trigger_text(transition, many=machine.multi_instance)
    mark = _MARKS.get(edge_kind(transition)) if marks else None
    if mark is not None:
        trigger = f"{mark} {trigger}"
    return " ".join((f"{transition.name}: {trigger}", *_clauses(process, transition)))


def _machine_view(
    process: ProcessModel, index: int, machine: MachineModel, marks: bool
) -> MachineView:
    prefix = f"m{index}"
    ids = {state: f"{prefix}_s{i}" for i, state in enumerate(machine.states)}
    wildcard = f"{prefix}_any" if any(t.from_wildcard for t in machine.transitions) else None
    edges: list[Edge] = []
    for transition in machine.transitions:
        label = transition_label(process, machine, transition, marks)
        kind = edge_kind(transition)
        if wildcard is not None and transition.from_wildcard:
            sources: tuple[str, ...] = (wildcard,)
        else:
            sources = tuple(ids[s] for s in transition.sources)
        edges.extend(Edge(s, ids[transition.target], label, kind) for s in sources)
    label = f"{machine.name} (many instances)" if machine.multi_instance else machine.name
    return MachineView(
        id=prefix,
        label=label,
        states=tuple((ids[s], s) for s in machine.states),
        initial=ids[machine.initial],
        final=tuple(ids[s] for s in machine.final),
        wildcard=wildcard,
        edges=tuple(edges),
    )


def _drawn(process: ProcessModel, machine: str | None) -> tuple[tuple[int, MachineModel], ...]:
    """The machines to draw, with their positions: all, or the one named ``machine``."""
    names = tuple(m.name for m in process.machines)
    if machine is not None and machine not in names:
        raise UnknownMachineError(machine, names)
    return tuple(
        (i, m) for i, m in enumerate(process.machines) if machine is None or m.name == machine
    )


def machine_views(
    process: ProcessModel, machine: str | None = None, marks: bool = False
) -> tuple[MachineView, ...]:
    """The machines to draw: all of them, or the one named ``machine``."""
    return tuple(_machine_view(process, i, m, marks) for i, m in _drawn(process, machine))


def _emits(transition: TransitionModel, signal: str) -> bool:
    return any(e.signal == signal for e in transition.emits)


def _handles(transition: TransitionModel, signal: str) -> bool:
    trigger = transition.trigger
    return isinstance(trigger, SignalTriggerModel) and trigger.signal == signal


def _signal_label(process: ProcessModel, signal: str) -> str:
    """``Abort: emitted by Trip.fail; handled by Flight.undo, Car.undo``."""

    def where(test: Callable[[TransitionModel, str], bool]) -> list[str]:
        return [
            f"{m.name}.{t.name}" for m in process.machines for t in m.transitions if test(t, signal)
        ]

    emitters, handlers = where(_emits), where(_handles)
    emitted = f"emitted by {', '.join(emitters)}" if emitters else "never emitted"
    handled = f"handled by {', '.join(handlers)}" if handlers else "never handled"
    return f"{signal}: {emitted}; {handled}"


def _touches(machine: MachineModel, signal: str) -> bool:
    return any(_emits(t, signal) or _handles(t, signal) for t in machine.transitions)


def signal_views(process: ProcessModel, machine: str | None = None) -> tuple[SignalView, ...]:
    """The legend: every signal, or those the one drawn machine emits or handles.

    Ids are positional in the whole process (``sig1`` is the second signal
    declared), like state ids.
    """
    drawn = [m for _, m in _drawn(process, machine)]
    return tuple(
        SignalView(f"sig{i}", _signal_label(process, s.name))
        for i, s in enumerate(process.signals)
        if machine is None or any(_touches(m, s.name) for m in drawn)
    )


# ---- Mermaid -------------------------------------------------------------------------

# Everything else is written as a Mermaid entity code (`#58;` for `:`), which
# Mermaid decodes when it renders: a colon or semicolon in a transition label
# would otherwise end the label, and a quote would end a state's name.
_MERMAID_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,/()*+=-"
)


def mermaid_text(text: str) -> str:
    return "".join(
        ch if ch in _MERMAID_SAFE or (ord(ch) > 127 and ch.isprintable()) else f"#{ord(ch)};"
        for ch in text
    )


def _mermaid_machine(view: MachineView) -> Iterator[str]:
    yield f'state "{mermaid_text(view.label)}" as {view.id} {{'
    inner = _INDENT
    for state_id, name in view.states:
        yield f'{inner}state "{mermaid_text(name)}" as {state_id}'
    if view.wildcard is not None:
        yield f'{inner}state "{mermaid_text(_WILDCARD_LABEL)}" as {view.wildcard}'
    yield f"{inner}[*] --> {view.initial}"
    for edge in view.edges:
        yield f"{inner}{edge.source} --> {edge.target} : {mermaid_text(edge.label)}"
    for final in view.final:
        yield f"{inner}{final} --> [*]"
    yield "}"


def _mermaid_signals(signals: tuple[SignalView, ...]) -> Iterator[str]:
    if not signals:
        return
    yield f'state "{mermaid_text(_SIGNALS_LABEL)}" as {_SIGNALS_ID} {{'
    for signal in signals:
        yield f'{_INDENT}state "{mermaid_text(signal.label)}" as {signal.id}'
    yield "}"


def render_mermaid(process: ProcessModel, machine: str | None = None) -> str:
    """A Mermaid ``stateDiagram-v2``: one composite state per machine, and the signals."""
    views = machine_views(process, machine, marks=True)
    lines = ["stateDiagram-v2"]
    wildcards = [v.wildcard for v in views if v.wildcard is not None]
    if wildcards:
        lines.append(f"{_INDENT}classDef wildcard stroke-dasharray:4 4,font-style:italic")
    for view in views:
        lines.extend(_INDENT + line for line in _mermaid_machine(view))
    lines.extend(_INDENT + line for line in _mermaid_signals(signal_views(process, machine)))
    if wildcards:
        lines.append(f"{_INDENT}class {','.join(wildcards)} wildcard")
    return "\n".join(lines) + "\n"


# ---- Graphviz DOT ----------------------------------------------------------------------


def dot_string(text: str) -> str:
    """A DOT quoted string; backslashes are doubled so Graphviz reads no escapes.

    Control characters cannot come from a `.pm` name; they become spaces so
    that no input can end a line of the DOT file.
    """
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    escaped = printable.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _attrs(*pairs: tuple[str, str]) -> str:
    """``[k=v, ...]`` from values already in DOT syntax."""
    return "[" + ", ".join(f"{key}={value}" for key, value in pairs) + "]"


_DOT_STYLES = {EdgeKind.TIMER: "dashed", EdgeKind.SIGNAL: "dotted"}


def _dot_machine(view: MachineView) -> Iterator[str]:
    inner = _INDENT
    start = dot_string(f"{view.id}_start")
    yield f"subgraph {dot_string('cluster_' + view.id)} {{"
    yield f"{inner}label={dot_string(view.label)};"
    empty = dot_string("")
    yield f"{inner}{start} {_attrs(('shape', 'point'), ('width', '0.15'), ('label', empty))};"
    for state_id, name in view.states:
        shape = (("shape", "doublecircle"),) if state_id in view.final else ()
        yield f"{inner}{dot_string(state_id)} {_attrs(*shape, ('label', dot_string(name)))};"
    if view.wildcard is not None:
        attrs = _attrs(("style", '"rounded,dashed"'), ("label", dot_string(_WILDCARD_LABEL)))
        yield f"{inner}{dot_string(view.wildcard)} {attrs};"
    yield f"{inner}{start} -> {dot_string(view.initial)};"
    for edge in view.edges:
        style = _DOT_STYLES.get(edge.kind)
        styled = (("style", style),) if style else ()
        attrs = _attrs(*styled, ("label", dot_string(edge.label)))
        yield f"{inner}{dot_string(edge.source)} -> {dot_string(edge.target)} {attrs};"
    yield "}"


def _dot_signals(signals: tuple[SignalView, ...]) -> Iterator[str]:
    if not signals:
        return
    yield f"subgraph {dot_string('cluster_' + _SIGNALS_ID)} {{"
    yield f"{_INDENT}label={dot_string(_SIGNALS_LABEL)};"
    for signal in signals:
        attrs = _attrs(("shape", "note"), ("style", "solid"), ("label", dot_string(signal.label)))
        yield f"{_INDENT}{dot_string(signal.id)} {attrs};"
    yield "}"


def render_dot(process: ProcessModel, machine: str | None = None) -> str:
    """A Graphviz digraph with one ``cluster_`` subgraph per machine.

    Timer transitions are dashed, signal transitions dotted; ``*``
    transitions leave one dashed node; the signals are notes in a cluster
    of their own.
    """
    views = machine_views(process, machine)
    lines = [
        f"digraph {dot_string(process.name)} {{",
        f'{_INDENT}graph [fontname="Helvetica", label={dot_string(process.name)}, labelloc=t];',
        f'{_INDENT}node [fontname="Helvetica", shape=box, style=rounded];',
        f'{_INDENT}edge [fontname="Helvetica", fontsize=10];',
    ]
    for view in views:
        lines.extend(_INDENT + line for line in _dot_machine(view))
    lines.extend(_INDENT + line for line in _dot_signals(signal_views(process, machine)))
    lines.append("}")
    return "\n".join(lines) + "\n"
