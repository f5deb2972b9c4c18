"""Every example under ``examples/`` is a valid process.

The examples are what people copy from, and the language reference points at
them, so each one must parse and pass ``pmc check`` without a single warning.
Together they must also show every form of the language, so that a reader
finds a worked use of each feature.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pmc.diagnostics import Diagnostic
from pmc.diagnostics.render import DiagnosticReport, render_text
from pmc.semantics import analyze
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.parser import parse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.pm"))


def _read(path: Path) -> SourceFile:
    return SourceFile(f"examples/{path.name}", path.read_text(encoding="utf-8"))


def _parse(path: Path) -> ast.Module:
    source = _read(path)
    result = parse(source)
    assert result.module is not None, _explain(source, result.diagnostics)
    return result.module


def _explain(source: SourceFile, diagnostics: tuple[Diagnostic, ...]) -> str:
    return "\n" + render_text(DiagnosticReport(source, diagnostics))


def test_the_documented_examples_exist() -> None:
    # Guards the parametrised tests below: an empty glob would make them pass
    # by running nothing.
    names = {path.name for path in EXAMPLE_FILES}
    assert {
        "rebase_cleanup.pm",
        "order_fulfilment.pm",
        "document_approval.pm",
        "provisioning.pm",
        "trip_booking.pm",
        "region_rollout.pm",
        "dunning.pm",
    } <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_example_parses_without_diagnostics(path: Path) -> None:
    source = _read(path)
    result = parse(source)
    assert result.diagnostics == (), _explain(source, result.diagnostics)
    assert result.module is not None


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_example_passes_check_without_errors_or_warnings(path: Path) -> None:
    analysis = analyze(_parse(path))
    assert analysis.diagnostics == (), _explain(_read(path), tuple(analysis.diagnostics))


# ---- the examples, together, show the whole language -----------------------


def _transitions(process: ast.Process) -> Iterator[ast.Transition]:
    for machine in process.machines:
        yield from machine.transitions


def _machine_features(machine: ast.MachineDecl, signals: set[str]) -> Iterator[str]:
    triggers = [t.trigger for t in machine.transitions]
    many = any(isinstance(t, ast.SelectorTrigger) for t in triggers)
    if many:
        yield "multi-instance machine (`on Event.field`)"
    if any(isinstance(t, ast.EventTrigger) and t.event.text not in signals for t in triggers):
        yield "single-instance machine (`on Event`)"
    if machine.data_blocks:
        yield "machine `data`"
    for trigger in triggers:
        if isinstance(trigger, ast.OutcomeTrigger):
            yield f"`on Task {trigger.outcome}`"
        if isinstance(trigger, ast.TimerTrigger):
            yield "`on after DURATION`"
        if isinstance(trigger, ast.DeadlineTrigger):
            yield f"`on at {trigger.field.scope}.FIELD`"
        if isinstance(trigger, ast.EventTrigger) and trigger.event.text in signals:
            yield "`on Signal` (broadcast)" if many else "`on Signal` (single instance)"
        if isinstance(trigger, ast.SelectorTrigger) and trigger.event.text in signals:
            yield "`on Signal.field`"
    for transition in machine.transitions:
        if any(isinstance(s, ast.Wildcard) for s in transition.sources):
            yield "`*` source"
        if len(transition.sources) > 1:
            yield "several sources"
        yield from _clause_features(transition)
    yield from _guard_order_features(machine.transitions)


def _clause_features(transition: ast.Transition) -> Iterator[str]:
    """The second edition's clauses after the trigger."""
    if transition.guard is not None:
        yield f"`when` on {type(transition.trigger).__name__}"
    if transition.keep is not None:
        yield "`keep`"
    if transition.set is not None:
        yield from (f"`set {a.target.scope}.FIELD`" for a in transition.set.assignments)
        if len(transition.set.assignments) > 1:
            yield "`set` of several fields"
    for emit in transition.emits:
        yield "`emit Signal(...)`" if emit.bindings else "`emit Signal`"


def _guard_order_features(transitions: tuple[ast.Transition, ...]) -> Iterator[str]:
    """Guarded transitions of one state and trigger, with or without a fallback."""
    groups: dict[tuple[str, str], list[ast.Transition]] = {}
    for transition in transitions:
        for source in transition.sources:
            if isinstance(source, ast.Name):
                trigger = _trigger_text(transition.trigger)
                groups.setdefault((source.text, trigger), []).append(transition)
    for group in groups.values():
        if len(group) > 1 and group[-1].guard is None:
            yield "guards tried in order, then an unguarded fallback"
        if len(group) > 1 and group[-1].guard is not None:
            yield "guards tried in order, no fallback"


def _trigger_text(trigger: ast.Trigger) -> str:
    if isinstance(trigger, ast.OutcomeTrigger):
        return f"{trigger.task.text} {trigger.outcome}"
    if isinstance(trigger, ast.SelectorTrigger):
        return f"{trigger.event.text}.{trigger.field.text}"
    if isinstance(trigger, ast.EventTrigger):
        return trigger.event.text
    return repr(trigger)  # a timer: each its own


def _task_features(task: ast.TaskDecl) -> Iterator[str]:
    yield f"task mode {task.mode or 'default'}"
    if task.returns:
        yield "`returns`"
    for retry in task.retries:
        yield f"retry delay {retry.delay.kind if retry.delay else 'none'}"
        if retry.max_delay is not None:
            yield "retry `max`"
    if task.timeouts:
        yield "`timeout`"
    yield from _field_features(task.fields, "task")
    for returns in task.returns:
        yield from _field_features(returns.fields, "returns")


def _binding_features(transition: ast.Transition) -> Iterator[str]:
    if transition.run is None:
        return
    trigger = transition.trigger
    yield f"run on {type(trigger).__name__}"
    for binding in transition.run.bindings:
        if isinstance(binding.value, ast.EventFieldRef):
            outcome = trigger.outcome if isinstance(trigger, ast.OutcomeTrigger) else "event"
            yield f"binding `event.FIELD` of {outcome}"
        elif isinstance(binding.value, ast.MachineIdRef):
            yield "binding `machine_id`"
        elif isinstance(binding.value, ast.KeyRef):
            yield "binding `key`"
        elif isinstance(binding.value, ast.DataFieldRef):
            yield f"binding `{binding.value.scope}.FIELD`"
        elif isinstance(binding.value, ast.Literal):
            yield "binding literal"
        else:
            yield "binding computed by an expression"


def _expressions(process: ast.Process) -> Iterator[ast.Expr]:
    """Every expression written in the process: guards, values, data conditions."""
    for transition in _transitions(process):
        if transition.guard is not None:
            yield transition.guard.condition
        if transition.run is not None:
            yield from (b.value for b in transition.run.bindings)
        if transition.set is not None:
            yield from (a.value for a in transition.set.assignments)
        for emit in transition.emits:
            yield from (b.value for b in emit.bindings)
    for declaration in process.declarations:
        if isinstance(declaration, ast.CompleteWhen | ast.FailWhen) and declaration.data:
            yield declaration.data


def _expression_features(expr: ast.Expr) -> Iterator[str]:
    """The operators and references in ``expr`` and every part of it."""
    if isinstance(expr, ast.BinaryExpr):
        yield f"operator `{expr.op}`"
        yield from _expression_features(expr.left)
        yield from _expression_features(expr.right)
    elif isinstance(expr, ast.UnaryExpr):
        yield f"operator `{expr.op}`"
        yield from _expression_features(expr.operand)
    elif isinstance(expr, ast.IsNoneExpr):
        yield "operator `is not none`" if expr.negated else "operator `is none`"
        yield from _expression_features(expr.operand)
    elif isinstance(expr, ast.ParenExpr):
        yield "parentheses"
        yield from _expression_features(expr.inner)
    elif isinstance(expr, ast.EventFieldRef | ast.DataFieldRef | ast.KeyRef | ast.MachineIdRef):
        yield f"operand {type(expr).__name__}"
    else:
        yield "operand literal"


def _type_names(type_: ast.TypeExpr) -> Iterator[str]:
    if isinstance(type_, ast.UnionType):
        yield "T | None"
        for member in type_.members:
            yield from _type_names(member)
        return
    yield type_.name.text
    for arg in type_.args:
        yield from _type_names(arg)


def _field_features(fields: tuple[ast.Field, ...], where: str) -> Iterator[str]:
    for field in fields:
        yield from (f"type {name}" for name in _type_names(field.type))
        if field.default is not None:
            yield f"{where} field default"


def features(module: ast.Module) -> set[str]:
    process = module.process
    found: set[str] = set()
    signals = {signal.name.text for signal in process.signals}
    for machine in process.machines:
        found.update(_machine_features(machine, signals))
        for block in machine.data_blocks:
            found.update(_field_features(block.fields, "data"))
    for block in process.data_blocks:
        found.update(_field_features(block.fields, "data"))
    for signal in process.signals:
        found.add("`signal` with fields" if signal.fields else "`signal` without fields")
        found.update(_field_features(signal.fields, "signal"))
    for expr in _expressions(process):
        found.update(_expression_features(expr))
    for task in process.tasks:
        found.update(_task_features(task))
    for transition in _transitions(process):
        found.update(_binding_features(transition))
    for event in process.events:
        found.update(_field_features(event.fields, "event"))
    for declaration in process.declarations:
        found.add(f"declaration {type(declaration).__name__}")
        if isinstance(declaration, ast.CompleteWhen):
            found.update(f"complete {type(c).__name__}" for c in declaration.conditions)
            if len(declaration.conditions) > 1:
                found.add("complete ... and ...")
        if isinstance(declaration, ast.FailWhen) and len(declaration.conditions) > 1:
            found.add("fail ... or ...")
        if isinstance(declaration, ast.CompleteWhen | ast.FailWhen) and declaration.data:
            verb = "complete" if isinstance(declaration, ast.CompleteWhen) else "fail"
            joined = " ... and" if verb == "complete" else " ... or"
            found.add(f"{verb} when{joined if declaration.conditions else ''} EXPR")
    return found


EVERY_FEATURE = {
    "multi-instance machine (`on Event.field`)",
    "single-instance machine (`on Event`)",
    "`on Task completed`",
    "`on Task failed`",
    "`on after DURATION`",
    "`*` source",
    "several sources",
    "task mode sync",
    "task mode async",
    "task mode default",
    "`returns`",
    "retry delay none",
    "retry delay backoff",
    "retry delay every",
    "retry `max`",
    "`timeout`",
    "task field default",
    "run on SelectorTrigger",
    "run on EventTrigger",
    "run on OutcomeTrigger",
    "run on TimerTrigger",
    "binding `event.FIELD` of event",
    "binding `event.FIELD` of completed",
    "binding `event.FIELD` of failed",
    "binding `machine_id`",
    "binding `key`",
    "binding literal",
    "type str",
    "type int",
    "type UUID",
    "type Decimal",
    "type datetime",
    "type list",
    "type dict",
    "type bool",
    "type T | None",
    "event field default",
    "declaration KeyDecl",
    "declaration EventDecl",
    "declaration TaskDecl",
    "declaration MachineDecl",
    "declaration StartOn",
    "declaration CompleteWhen",
    "declaration FailWhen",
    "declaration CancelOn",
    "complete AllFinal",
    "complete AllIn",
    "complete ... and ...",
    "fail ... or ...",
    # ---- the second edition (SPEC section 6) ----
    "declaration DataDecl",
    "declaration SignalDecl",
    "machine `data`",
    "data field default",
    "`signal` with fields",
    "`signal` without fields",
    "`when` on EventTrigger",
    "`when` on SelectorTrigger",
    "`when` on OutcomeTrigger",
    "`when` on TimerTrigger",
    "guards tried in order, then an unguarded fallback",
    "guards tried in order, no fallback",
    "`keep`",
    "`set data.FIELD`",
    "`set instance.FIELD`",
    "`set` of several fields",
    "`emit Signal(...)`",
    "`emit Signal`",
    "`on Signal` (single instance)",
    "`on Signal` (broadcast)",
    "`on Signal.field`",
    "`on at data.FIELD`",
    "`on at instance.FIELD`",
    "complete when ... and EXPR",
    "complete when EXPR",
    "fail when ... or EXPR",
    "fail when EXPR",
    "binding `data.FIELD`",
    "binding `instance.FIELD`",
    "binding computed by an expression",
    "operator `==`",
    "operator `!=`",
    "operator `<`",
    "operator `<=`",
    "operator `>`",
    "operator `>=`",
    "operator `and`",
    "operator `or`",
    "operator `not`",
    "operator `in`",
    "operator `not in`",
    "operator `+`",
    "operator `-`",
    "operator `len`",
    "operator `is none`",
    "operator `is not none`",
    "parentheses",
    "operand literal",
    "operand EventFieldRef",
    "operand DataFieldRef",
    "operand KeyRef",
    "operand MachineIdRef",
}


def test_the_examples_together_show_every_feature() -> None:
    shown: set[str] = set()
    for path in EXAMPLE_FILES:
        shown |= features(_parse(path))
    assert sorted(EVERY_FEATURE - shown) == []
