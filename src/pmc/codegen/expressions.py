"""Expressions of the model as Python source, for the functions of an API 3 module.

Every compound operand is parenthesised, so Python's precedence never decides
anything; names are validated identifiers and values go through
:mod:`.literals`, so nothing from the ``.pm`` file reaches the module as code.
A few spellings are chosen for the linters the output must pass, each the
same value as the plain one for the types semantics lets through: ``x is
None`` for ``x == none`` (E711), ``x is True`` for ``x == true`` (E712), the
variable on the left of a comparison with a literal (SIM300), ``a != b`` for
``not (a == b)`` (SIM201/202, E713, E714), ``x`` for ``not not x`` (SIM208),
and ``x or true`` / ``x and false`` folded to their value (SIM222/223): an
expression reads values and has no effect, so nothing is skipped that could
be noticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pmc.codegen.literals import value_literal
from pmc.semantics.model import (
    BinaryExpr,
    BinaryOp,
    DataFieldExpr,
    DataScope,
    EventFieldExpr,
    ExprModel,
    IsNoneExpr,
    KeyExpr,
    ListType,
    LiteralExpr,
    LiteralValue,
    MachineIdExpr,
    OptionalType,
    Primitive,
    PrimitiveType,
    UnaryExpr,
    UnaryOp,
    ValueType,
)

_BOOL = PrimitiveType(Primitive.BOOL)
_INT = PrimitiveType(Primitive.INT)
_STR = PrimitiveType(Primitive.STR)
# A literal no context types (``1.5 < 2.5``): a number is written as a float.
_UNTYPED = PrimitiveType(Primitive.FLOAT)

_COMPARISONS = frozenset(
    {BinaryOp.EQ, BinaryOp.NE, BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE}
)
# ``a OP b`` == ``b MIRROR[OP] a``: how a literal moves to the right (SIM300).
_MIRRORED = {
    BinaryOp.EQ: BinaryOp.EQ,
    BinaryOp.NE: BinaryOp.NE,
    BinaryOp.LT: BinaryOp.GT,
    BinaryOp.LE: BinaryOp.GE,
    BinaryOp.GT: BinaryOp.LT,
    BinaryOp.GE: BinaryOp.LE,
}
# ``not (a OP b)`` == ``a NEGATED[OP] b``; not the orderings, which a
# reader would have to check for themselves.
_NEGATED = {
    BinaryOp.EQ: BinaryOp.NE,
    BinaryOp.NE: BinaryOp.EQ,
    BinaryOp.IN: BinaryOp.NOT_IN,
    BinaryOp.NOT_IN: BinaryOp.IN,
}


@dataclass(frozen=True, slots=True)
class Refs:
    """What an expression reads, as the generated function reaches it, and its types.

    ``event``, ``data`` and ``instance`` are the Python expressions of the
    trigger's payload and the two records (``_s.event``); the field types
    tell a literal next to a ``Decimal`` to be a ``Decimal``.
    """

    event: str
    data: str
    instance: str
    machine_id: str
    key: str
    event_fields: Mapping[str, ValueType]
    data_fields: Mapping[str, ValueType]
    instance_fields: Mapping[str, ValueType]
    key_type: ValueType


def python_expr(expr: ExprModel, refs: Refs, expected: ValueType | None = None) -> str:
    """``expr`` as a Python expression; ``expected`` types a bare literal."""
    match expr:
        case LiteralExpr(value):
            return value_literal(value, expected or _UNTYPED)
        case EventFieldExpr(field):
            return f"{refs.event}.{field}"
        case DataFieldExpr(DataScope.DATA, field):
            return f"{refs.data}.{field}"
        case DataFieldExpr(_, field):
            return f"{refs.instance}.{field}"
        case MachineIdExpr():
            return refs.machine_id
        case KeyExpr():
            return refs.key
        case UnaryExpr(UnaryOp.LEN, operand):
            return f"len({python_expr(operand, refs)})"
        case UnaryExpr(_, operand):
            return _not(operand, refs)
        case IsNoneExpr(operand, negated):
            return f"{python_operand(operand, refs)} is {'not ' if negated else ''}None"
        case BinaryExpr(op, left, right):
            return _binary(op, left, right, refs, expected)
    raise AssertionError(expr)  # pragma: no cover - the match is exhaustive


def reads_key(expr: ExprModel) -> bool:
    """Does ``expr`` read the process key anywhere?"""
    match expr:
        case KeyExpr():
            return True
        case UnaryExpr(_, operand) | IsNoneExpr(operand, _):
            return reads_key(operand)
        case BinaryExpr(_, left, right):
            return reads_key(left) or reads_key(right)
    return False


def python_operand(expr: ExprModel, refs: Refs, expected: ValueType | None = None) -> str:
    text = python_expr(expr, refs, expected)
    compound = isinstance(expr, BinaryExpr | IsNoneExpr) or (
        isinstance(expr, UnaryExpr) and expr.op is UnaryOp.NOT
    )
    return f"({text})" if compound else text


def _not(operand: ExprModel, refs: Refs) -> str:
    match operand:
        case UnaryExpr(UnaryOp.NOT, inner):
            return python_expr(inner, refs)
        case IsNoneExpr(inner, negated):
            return python_expr(IsNoneExpr(inner, not negated), refs)
        case BinaryExpr(op, left, right) if op in _NEGATED:
            return python_expr(BinaryExpr(_NEGATED[op], left, right), refs)
    return f"not {python_operand(operand, refs, _BOOL)}"


def _binary(
    op: BinaryOp, left: ExprModel, right: ExprModel, refs: Refs, expected: ValueType | None
) -> str:
    if op in (BinaryOp.AND, BinaryOp.OR):
        absorbing = LiteralExpr(op is BinaryOp.OR)  # ``x or true``, ``x and false``
        if absorbing in (left, right):
            return python_expr(absorbing, refs)
        return (
            f"{python_operand(left, refs, _BOOL)} {op.value} {python_operand(right, refs, _BOOL)}"
        )
    if op in _COMPARISONS:
        return _comparison(op, left, right, refs)
    if op in (BinaryOp.IN, BinaryOp.NOT_IN):
        item = _item_type(type_of(right, refs))
        return f"{python_operand(left, refs, item)} {op.value} {python_operand(right, refs)}"
    # ``+``/``-``: a literal takes the type of the other side, else of the whole.
    left_text = python_operand(left, refs, type_of(right, refs) or expected)
    return f"{left_text} {op.value} {python_operand(right, refs, type_of(left, refs) or expected)}"


def _comparison(op: BinaryOp, left: ExprModel, right: ExprModel, refs: Refs) -> str:
    if isinstance(left, LiteralExpr) and not isinstance(right, LiteralExpr):
        op, left, right = _MIRRORED[op], right, left
    if op in (BinaryOp.EQ, BinaryOp.NE) and isinstance(right, LiteralExpr):
        value = right.value
        if value is None or isinstance(value, bool):
            negation = "not " if op is BinaryOp.NE else ""
            return f"{python_operand(left, refs)} is {negation}{value!r}"
    left_text = python_operand(left, refs, type_of(right, refs))
    return f"{left_text} {op.value} {python_operand(right, refs, type_of(left, refs))}"


def _item_type(value_type: ValueType | None) -> ValueType | None:
    inner = value_type.inner if isinstance(value_type, OptionalType) else value_type
    return inner.item if isinstance(inner, ListType) else None


def type_of(expr: ExprModel, refs: Refs) -> ValueType | None:
    """The type of ``expr``, as far as a literal beside it needs it; None: a number literal.

    Only what decides how a literal is written: a ``Decimal`` operand makes a
    ``1.5`` beside it ``Decimal("1.5")``.
    """
    match expr:
        case LiteralExpr(value):
            return _literal_type(value)
        case EventFieldExpr(field):
            return refs.event_fields.get(field)
        case DataFieldExpr(DataScope.DATA, field):
            return refs.data_fields.get(field)
        case DataFieldExpr(_, field):
            return refs.instance_fields.get(field)
        case MachineIdExpr():
            return _STR
        case KeyExpr():
            return refs.key_type
        case UnaryExpr(UnaryOp.LEN, _):
            return _INT
        case BinaryExpr(BinaryOp.ADD | BinaryOp.SUB, left, right):
            return _sum_type(type_of(left, refs), type_of(right, refs))
    return _BOOL


def _literal_type(value: object) -> ValueType | None:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, str):
        return _STR
    return None  # a number (``int`` or ``Decimal`` text) or none: the context decides


def _sum_type(left: ValueType | None, right: ValueType | None) -> ValueType | None:
    """``int`` mixed with ``float`` or ``Decimal`` gives the other (semantics refuses the rest)."""
    for side in (left, right):
        inner = side.inner if isinstance(side, OptionalType) else side
        if isinstance(inner, PrimitiveType) and inner.primitive in (
            Primitive.DECIMAL,
            Primitive.FLOAT,
        ):
            return inner
    return left or right


# ---- as ``pmc fmt`` writes it ------------------------------------------------------
# TODO(ed2-sem): replace with ``pmc.semantics.expressions.expr_text`` when it lands.

_PM_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
# Binding power in ``.pm`` syntax, loosest first: or, and, not, comparisons, + -.
_PRECEDENCE = {BinaryOp.OR: 1, BinaryOp.AND: 2, BinaryOp.ADD: 5, BinaryOp.SUB: 5}
_ATOM = 6


def expr_text(expr: ExprModel) -> str:
    """``expr`` in ``.pm`` syntax, with the parentheses its tree needs and no more."""
    match expr:
        case LiteralExpr(value):
            return _pm_literal(value)
        case EventFieldExpr(field):
            return f"event.{field}"
        case DataFieldExpr(scope, field):
            return f"{scope.value}.{field}"
        case MachineIdExpr():
            return "machine_id"
        case KeyExpr():
            return "key"
        case UnaryExpr(UnaryOp.LEN, operand):
            return f"len({expr_text(operand)})"
        case UnaryExpr(_, operand):
            return f"not {_pm_operand(operand, 3)}"
        case IsNoneExpr(operand, negated):
            return f"{_pm_operand(operand, 5)} is {'not ' if negated else ''}none"
        case BinaryExpr(op, left, right):
            power = _PRECEDENCE.get(op, 4)
            # Left-associative; a comparison takes no comparison as an operand.
            left_text = _pm_operand(left, power + (power == 4))
            return f"{left_text} {op.value} {_pm_operand(right, power + 1)}"
    raise AssertionError(expr)  # pragma: no cover - the match is exhaustive


def _power(expr: ExprModel) -> int:
    match expr:
        case BinaryExpr(op, _, _):
            return _PRECEDENCE.get(op, 4)
        case IsNoneExpr():
            return 4
        case UnaryExpr(UnaryOp.NOT, _):
            return 3
    return _ATOM


def _pm_operand(expr: ExprModel, at_least: int) -> str:
    text = expr_text(expr)
    return text if _power(expr) >= at_least else f"({text})"


def _pm_literal(value: LiteralValue) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(_PM_ESCAPES.get(char, char) for char in value) + '"'
    return str(value)
