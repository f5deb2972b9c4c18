"""Turns lark's parse tree into the typed AST (:mod:`pmc.syntax.ast`).

Lark stays inside :mod:`pmc.syntax`; the AST it produces is free of lark types.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from lark import Token, Transformer, v_args

from pmc.source import Span
from pmc.syntax import ast

_DURATION_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d)")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


class InvalidLiteral(Exception):
    """A token that the grammar accepts but whose value is not valid.

    Control flow inside this package, not an error of the library: the parser
    catches it around the AST builder and returns it as a diagnostic, so it
    never reaches a caller and does not derive from ``PmcError``.
    """

    def __init__(self, code: str, message: str, span: Span, help: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.span = span
        self.help = help


def token_span(token: Token) -> Span:
    assert token.line is not None and token.column is not None
    assert token.end_line is not None and token.end_column is not None
    return Span(token.line, token.column, token.end_line, token.end_column)


def _meta_span(meta: Any) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _name(token: Token) -> ast.Name:
    return ast.Name(str(token), token_span(token))


def decode_string(token: Token) -> str:
    """Decode a string literal's escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\r``."""
    body = str(token)[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            escaped = body[i + 1]
            if escaped not in _ESCAPES:
                line = token.line or 1
                column = (token.column or 1) + 1 + i
                raise InvalidLiteral(
                    "PM0004",
                    f"unknown escape sequence `\\{escaped}` in string",
                    Span(line, column, line, column + 2),
                    help='strings support `\\"`, `\\\\`, `\\n`, `\\t` and `\\r`',
                )
            out.append(_ESCAPES[escaped])
            i += 2
        elif ch == "\x00":
            # The stores refuse text holding NUL (PostgreSQL cannot store it),
            # so every event with such a default or binding would fail.
            line = token.line or 1
            column = (token.column or 1) + 1 + i
            raise InvalidLiteral(
                "PM0004",
                "a string cannot hold a NUL character",
                Span(line, column, line, column + 1),
                help="event stores refuse text with NUL (`\\x00`); remove it",
            )
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# Integers must fit a signed 64-bit integer: event payloads are stored as JSON
# and in SQL columns, where larger numbers are rejected or silently rounded.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
# Timers and retries add a duration to an event's timestamp; a century keeps
# the result a valid `datetime` (years up to 9999) and its milliseconds an int64.
MAX_DURATION_MS = 36_500 * _DURATION_UNITS_MS["d"]
# Checked before `int()`: Python refuses to convert strings of over 4,300 digits.
_MAX_DIGITS = 30


def _integer(token: Token) -> int:
    text = str(token)
    value = int(text) if len(text.lstrip("-")) <= _MAX_DIGITS else None
    if value is None or not INT_MIN <= value <= INT_MAX:
        raise InvalidLiteral(
            "PM0006",
            f"integer `{_shorten(text)}` is out of range",
            token_span(token),
            help=f"integers must lie between {INT_MIN:,} and {INT_MAX:,}",
        )
    return value


def _duration(token: Token) -> ast.Duration:
    match = _DURATION.fullmatch(str(token))
    assert match is not None, token
    amount, unit = match.groups()
    milliseconds = int(amount) * _DURATION_UNITS_MS[unit] if len(amount) <= _MAX_DIGITS else None
    if milliseconds is None or milliseconds > MAX_DURATION_MS:
        raise InvalidLiteral(
            "PM0006",
            f"duration `{_shorten(str(token))}` is too long",
            token_span(token),
            help="durations are limited to 100 years (`36500d`)",
        )
    return ast.Duration(milliseconds, str(token), token_span(token))


def _shorten(text: str) -> str:
    return text if len(text) <= 32 else text[:31] + "…"


def _binary(op: ast.BinaryOp, left: ast.Expr, right: ast.Expr) -> ast.BinaryExpr:
    span = Span(left.span.line, left.span.column, right.span.end_line, right.span.end_column)
    return ast.BinaryExpr(op, left, right, span)


def _fold(op: ast.BinaryOp, operands: list[ast.Expr]) -> ast.Expr:
    result = operands[0]
    for right in operands[1:]:
        result = _binary(op, result, right)
    return result


@v_args(meta=True)
class AstBuilder(Transformer[Token, ast.Module]):
    """Bottom-up construction; one method per grammar rule or alias."""

    def start(self, meta: Any, children: list[ast.Process]) -> ast.Process:
        return children[0]

    def process(self, meta: Any, children: list[Any]) -> ast.Process:
        name, *declarations = children
        return ast.Process(_name(name), tuple(declarations), _meta_span(meta))

    def key_decl(self, meta: Any, children: list[Token]) -> ast.KeyDecl:
        return ast.KeyDecl(_name(children[1]), _meta_span(meta))

    def event_decl(self, meta: Any, children: list[Any]) -> ast.EventDecl:
        name, *fields = children
        return ast.EventDecl(_name(name), tuple(fields), _meta_span(meta))

    def data_decl(self, meta: Any, children: list[ast.Field]) -> ast.DataDecl:
        return ast.DataDecl(tuple(children), _meta_span(meta))

    def signal_decl(self, meta: Any, children: list[Any]) -> ast.SignalDecl:
        name, *fields = children
        return ast.SignalDecl(_name(name), tuple(fields), _meta_span(meta))

    def field(self, meta: Any, children: list[Any]) -> ast.Field:
        name, type_, default = children
        return ast.Field(_name(name), type_, default, _meta_span(meta))

    def default(self, meta: Any, children: list[ast.Literal]) -> ast.Literal:
        return children[0]

    # tasks

    def task_decl(self, meta: Any, children: list[Any]) -> ast.TaskDecl:
        name, mode, *members = children
        mode_value = None if mode is None else ast.TaskMode(str(mode))
        mode_span = None if mode is None else token_span(mode)
        return ast.TaskDecl(_name(name), mode_value, mode_span, tuple(members), _meta_span(meta))

    def task_mode(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def returns_clause(self, meta: Any, children: list[ast.Field]) -> ast.ReturnsClause:
        return ast.ReturnsClause(tuple(children), _meta_span(meta))

    def retry_clause(self, meta: Any, children: list[Any]) -> ast.RetryClause:
        count, delay, max_delay = children
        return ast.RetryClause(
            _integer(count), token_span(count), delay, max_delay, _meta_span(meta)
        )

    def retry_delay(self, meta: Any, children: list[Token]) -> ast.RetryDelay:
        kind, duration = children
        return ast.RetryDelay(ast.RetryDelayKind(str(kind)), _duration(duration), _meta_span(meta))

    def retry_max(self, meta: Any, children: list[Token]) -> ast.Duration:
        return _duration(children[0])

    def timeout_clause(self, meta: Any, children: list[Token]) -> ast.TimeoutClause:
        return ast.TimeoutClause(_duration(children[0]), _meta_span(meta))

    # machines

    def machine_decl(self, meta: Any, children: list[Any]) -> ast.MachineDecl:
        name, data, *members = children
        leading = () if data is None else (data,)
        return ast.MachineDecl(_name(name), (*leading, *members), _meta_span(meta))

    def name_list(self, meta: Any, children: list[Token]) -> tuple[ast.Name, ...]:
        return tuple(_name(token) for token in children)

    def states_clause(self, meta: Any, children: list[Any]) -> ast.StatesClause:
        return ast.StatesClause(children[0], _meta_span(meta))

    def initial_clause(self, meta: Any, children: list[Token]) -> ast.InitialClause:
        return ast.InitialClause(_name(children[0]), _meta_span(meta))

    def final_clause(self, meta: Any, children: list[Any]) -> ast.FinalClause:
        return ast.FinalClause(children[0], _meta_span(meta))

    def transition(self, meta: Any, children: list[Any]) -> ast.Transition:
        name, sources, target, trigger, guard, keep, run, set_, *emits = children
        return ast.Transition(
            _name(name),
            sources,
            _name(target),
            trigger,
            run,
            _meta_span(meta),
            guard=guard,
            keep=keep,
            set=set_,
            emits=tuple(emits),
        )

    def sources(self, meta: Any, children: list[Any]) -> tuple[ast.Name | ast.Wildcard, ...]:
        return tuple(children)

    def source(self, meta: Any, children: list[Token]) -> ast.Name | ast.Wildcard:
        token = children[0]
        if token.type == "STAR":
            return ast.Wildcard(token_span(token))
        return _name(token)

    def event_trigger(self, meta: Any, children: list[Token]) -> ast.EventTrigger:
        return ast.EventTrigger(_name(children[0]), _meta_span(meta))

    def selector_trigger(self, meta: Any, children: list[Token]) -> ast.SelectorTrigger:
        event, field = children
        return ast.SelectorTrigger(_name(event), _name(field), _meta_span(meta))

    def outcome_trigger(self, meta: Any, children: list[Token]) -> ast.OutcomeTrigger:
        task, outcome = children
        return ast.OutcomeTrigger(_name(task), ast.Outcome(str(outcome)), _meta_span(meta))

    def timer_trigger(self, meta: Any, children: list[Token]) -> ast.TimerTrigger:
        return ast.TimerTrigger(_duration(children[0]), _meta_span(meta))

    def deadline_trigger(self, meta: Any, children: list[Any]) -> ast.DeadlineTrigger:
        _at, field = children
        return ast.DeadlineTrigger(field, _meta_span(meta))

    def guard(self, meta: Any, children: list[ast.Expr]) -> ast.Guard:
        return ast.Guard(children[0], _meta_span(meta))

    def keep_clause(self, meta: Any, children: list[Token]) -> ast.KeepClause:
        return ast.KeepClause(tuple(_name(token) for token in children), _meta_span(meta))

    def run_clause(self, meta: Any, children: list[Any]) -> ast.RunClause:
        task, bindings = children
        return ast.RunClause(_name(task), bindings or (), _meta_span(meta))

    def set_clause(self, meta: Any, children: list[ast.Assignment]) -> ast.SetClause:
        return ast.SetClause(tuple(children), _meta_span(meta))

    def assignment(self, meta: Any, children: list[Any]) -> ast.Assignment:
        target, value = children
        return ast.Assignment(target, value, _meta_span(meta))

    def emit_clause(self, meta: Any, children: list[Any]) -> ast.EmitClause:
        signal, bindings = children
        return ast.EmitClause(_name(signal), bindings or (), _meta_span(meta))

    def bindings(self, meta: Any, children: list[Any]) -> tuple[ast.Binding, ...]:
        return tuple(child for child in children if child is not None)

    def binding(self, meta: Any, children: list[Any]) -> ast.Binding:
        field, value = children
        return ast.Binding(_name(field), value, _meta_span(meta))

    def event_field_ref(self, meta: Any, children: list[Token]) -> ast.EventFieldRef:
        return ast.EventFieldRef(_name(children[0]), _meta_span(meta))

    def machine_id_ref(self, meta: Any, children: list[Token]) -> ast.MachineIdRef:
        return ast.MachineIdRef(_meta_span(meta))

    def key_ref(self, meta: Any, children: list[Token]) -> ast.KeyRef:
        return ast.KeyRef(_meta_span(meta))

    def data_ref(self, meta: Any, children: list[Token]) -> ast.DataFieldRef:
        scope, field = children
        return ast.DataFieldRef(ast.DataScope(str(scope)), _name(field), _meta_span(meta))

    # expressions: `a or b or c` arrives as one flat list, folded to the left

    def or_expr(self, meta: Any, children: list[ast.Expr]) -> ast.Expr:
        return _fold(ast.BinaryOp.OR, children)

    def and_expr(self, meta: Any, children: list[ast.Expr]) -> ast.Expr:
        return _fold(ast.BinaryOp.AND, children)

    def not_op(self, meta: Any, children: list[ast.Expr]) -> ast.UnaryExpr:
        return ast.UnaryExpr(ast.UnaryOp.NOT, children[0], _meta_span(meta))

    def len_expr(self, meta: Any, children: list[ast.Expr]) -> ast.UnaryExpr:
        return ast.UnaryExpr(ast.UnaryOp.LEN, children[0], _meta_span(meta))

    def paren_expr(self, meta: Any, children: list[ast.Expr]) -> ast.ParenExpr:
        return ast.ParenExpr(children[0], _meta_span(meta))

    def compare(self, meta: Any, children: list[Any]) -> ast.BinaryExpr:
        left, op, right = children
        return ast.BinaryExpr(ast.BinaryOp(str(op)), left, right, _meta_span(meta))

    def member(self, meta: Any, children: list[ast.Expr]) -> ast.BinaryExpr:
        left, right = children
        return ast.BinaryExpr(ast.BinaryOp.IN, left, right, _meta_span(meta))

    def not_member(self, meta: Any, children: list[ast.Expr]) -> ast.BinaryExpr:
        left, right = children
        return ast.BinaryExpr(ast.BinaryOp.NOT_IN, left, right, _meta_span(meta))

    def is_none(self, meta: Any, children: list[Any]) -> ast.IsNoneExpr:
        return ast.IsNoneExpr(children[0], False, _meta_span(meta))

    def is_not_none(self, meta: Any, children: list[Any]) -> ast.IsNoneExpr:
        return ast.IsNoneExpr(children[0], True, _meta_span(meta))

    def sum(self, meta: Any, children: list[Any]) -> ast.Expr:
        result: ast.Expr = children[0]
        for op, right in zip(children[1::2], children[2::2], strict=True):
            result = _binary(ast.BinaryOp(str(op)), result, right)
        return result

    # process-level clauses

    def start_decl(self, meta: Any, children: list[Any]) -> ast.StartOn:
        return ast.StartOn(children[0], _meta_span(meta))

    def complete_decl(self, meta: Any, children: list[Any]) -> ast.CompleteWhen:
        # The data expression comes last; without one, a None placeholder does.
        *conditions, data = children
        return ast.CompleteWhen(tuple(conditions), _meta_span(meta), data=data)

    def all_final(self, meta: Any, children: list[Token]) -> ast.AllFinal:
        return ast.AllFinal(_name(children[0]), _meta_span(meta))

    def all_in(self, meta: Any, children: list[Any]) -> ast.AllIn:
        machine, states = children
        return ast.AllIn(_name(machine), states, _meta_span(meta))

    def fail_decl(self, meta: Any, children: list[Any]) -> ast.FailWhen:
        *conditions, data = children
        return ast.FailWhen(tuple(conditions), _meta_span(meta), data=data)

    def any_condition(self, meta: Any, children: list[Any]) -> ast.AnyIn:
        machine, states = children
        return ast.AnyIn(_name(machine), states, _meta_span(meta))

    def cancel_decl(self, meta: Any, children: list[Any]) -> ast.CancelOn:
        return ast.CancelOn(children[0], _meta_span(meta))

    # types and literals

    def type(self, meta: Any, children: list[ast.NamedType]) -> ast.TypeExpr:
        if len(children) == 1:
            return children[0]
        return ast.UnionType(tuple(children), _meta_span(meta))

    def type_atom(self, meta: Any, children: list[Any]) -> ast.NamedType:
        name, args = children
        return ast.NamedType(_name(name), args or (), _meta_span(meta))

    def type_args(self, meta: Any, children: list[ast.TypeExpr]) -> tuple[ast.TypeExpr, ...]:
        return tuple(children)

    def string(self, meta: Any, children: list[Token]) -> ast.StringLiteral:
        return ast.StringLiteral(decode_string(children[0]), token_span(children[0]))

    def decimal(self, meta: Any, children: list[Token]) -> ast.DecimalLiteral:
        token = children[0]
        return ast.DecimalLiteral(Decimal(str(token)), str(token), token_span(token))

    def integer(self, meta: Any, children: list[Token]) -> ast.IntLiteral:
        return ast.IntLiteral(_integer(children[0]), token_span(children[0]))

    def true(self, meta: Any, children: list[Token]) -> ast.BoolLiteral:
        return ast.BoolLiteral(True, _meta_span(meta))

    def false(self, meta: Any, children: list[Token]) -> ast.BoolLiteral:
        return ast.BoolLiteral(False, _meta_span(meta))

    def none(self, meta: Any, children: list[Token]) -> ast.NoneLiteral:
        return ast.NoneLiteral(_meta_span(meta))
