"""A stand-in for ``pmc.semantics.expressions.expr_text`` until branch ed2-sem lands.

Prints a model expression in `.pm` syntax with minimal parentheses. Replaced
by the semantics helper's function on merge (this module is then deleted).
"""

from __future__ import annotations

from decimal import Decimal

from pmc.semantics.model import (
    BinaryExpr,
    BinaryOp,
    DataFieldExpr,
    EventFieldExpr,
    ExprModel,
    IsNoneExpr,
    KeyExpr,
    LiteralExpr,
    LiteralValue,
    MachineIdExpr,
    UnaryExpr,
    UnaryOp,
)

# Binding strength, lowest first, as in the grammar: or, and, not, comparison, sum, atom.
_OR, _AND, _NOT, _COMPARISON, _SUM, _ATOM = range(6)
_LEVEL = {
    BinaryOp.OR: _OR,
    BinaryOp.AND: _AND,
    BinaryOp.ADD: _SUM,
    BinaryOp.SUB: _SUM,
}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _literal_text(value: LiteralValue) -> str:
    match value:
        case None:
            return "none"
        case bool():
            return "true" if value else "false"
        case str():
            return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
        case int() | Decimal():
            return str(value)


def _level(expr: ExprModel) -> int:
    match expr:
        case BinaryExpr(op=op):
            return _LEVEL.get(op, _COMPARISON)
        case IsNoneExpr():
            return _COMPARISON
        case UnaryExpr(op=UnaryOp.NOT):
            return _NOT
        case _:
            return _ATOM


def _operand(expr: ExprModel, above: int) -> str:
    text = expr_text(expr)
    return f"({text})" if _level(expr) <= above else text


def expr_text(expr: ExprModel) -> str:
    match expr:
        case LiteralExpr(value=value):
            return _literal_text(value)
        case EventFieldExpr(field=field):
            return f"event.{field}"
        case DataFieldExpr(scope=scope, field=field):
            return f"{scope}.{field}"
        case KeyExpr():
            return "key"
        case MachineIdExpr():
            return "machine_id"
        case UnaryExpr(op=UnaryOp.LEN, operand=operand):
            return f"len({expr_text(operand)})"
        case UnaryExpr(operand=operand):
            return f"not {_operand(operand, _NOT - 1)}"
        case IsNoneExpr(operand=operand, negated=negated):
            return f"{_operand(operand, _COMPARISON)} is {'not ' if negated else ''}none"
        case BinaryExpr(op=op, left=left, right=right):
            level = _level(expr)
            # Left-associative: a left operand of the same level needs no
            # parentheses, a right one does; comparisons never chain.
            left_above = level if level == _COMPARISON else level - 1
            return f"{_operand(left, left_above)} {op} {_operand(right, level)}"
