"""Expressions of the model as Python source, for the functions of an API 4 module.

Every compound operand is parenthesised, so Python's precedence never decides
anything; names are validated identifiers and values go through
:mod:`.literals`, so nothing from the ``.pm`` file reaches the module as code.
A few spellings are chosen for the linters the output must pass, each the
same value as the plain one for the types semantics lets through: ``x is
None`` for ``x == none`` (E711), ``x is True`` for ``x == true`` (E712), the
variable on the left of a comparison with a constant (SIM300), ``a != b`` for
``not (a == b)`` (SIM201/202, E713, E714), ``x`` for ``not not x`` (SIM208),
and ``x or true`` / ``x and false`` (SIM222/223) and a comparison of two
literals or of a value with itself (PLR0133, PLR0124, mypy's
comparison-overlap) folded to their value: an expression reads values and
has no effect, so nothing is skipped that could be noticed.
"""

from __future__ import annotations

import io
import operator
import tokenize
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pmc.codegen.formatter import CodegenError
from pmc.codegen.literals import value_literal
from pmc.semantics.expressions import MAX_PYTHON_DEPTH, python_depth
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
_FLOAT = PrimitiveType(Primitive.FLOAT)
_DECIMAL = PrimitiveType(Primitive.DECIMAL)

# Operators of a sum, which Python groups to the left like the ``.pm`` grammar.
_SUM = frozenset({BinaryOp.ADD, BinaryOp.SUB})
_COMPARE: Mapping[BinaryOp, Callable[[Any, Any], object]] = {
    BinaryOp.EQ: operator.eq,
    BinaryOp.NE: operator.ne,
    BinaryOp.LT: operator.lt,
    BinaryOp.LE: operator.le,
    BinaryOp.GT: operator.gt,
    BinaryOp.GE: operator.ge,
}
_COMPARISONS = frozenset(_COMPARE)
# ``a OP b`` == ``b MIRROR[OP] a``: how a constant moves to the right (SIM300).
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
    """``expr`` as a Python expression; ``expected`` types a bare literal.

    Recursive but for ``and``/``or`` chains: :func:`check_depth` first bounds the depth.
    """
    match expr:
        case LiteralExpr(value):
            return value_literal(value, _written_as(value, expected))
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
            folded = _folded(expr)
            if folded is not expr:
                return python_expr(folded, refs, expected)
            return _binary(op, left, right, refs, expected)
    raise AssertionError(expr)  # pragma: no cover - the match is exhaustive


def names_read(code: str) -> frozenset[str]:
    """The names a Python expression of this module reads (not attributes, not in strings)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    return frozenset(
        token.string
        for before, token in zip([None, *tokens], tokens, strict=False)
        if token.type == tokenize.NAME and not (before is not None and before.string == ".")
    )


def check_depth(expr: ExprModel) -> None:
    """Raise :class:`CodegenError` for an expression Python could not compile.

    ``pmc check`` reports such an expression (PM0005), so this only guards
    against a model that did not come from it.
    """
    depth = python_depth(expr)
    if depth > MAX_PYTHON_DEPTH:
        raise CodegenError(
            f"an expression is nested {depth} levels deep, more than the generated Python can"
            f" hold ({MAX_PYTHON_DEPTH}): split it, keeping part of it in a `data` field"
        )


def _nodes(expr: ExprModel) -> Iterator[ExprModel]:
    """Every node of ``expr``, without recursion."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        match node:
            case UnaryExpr(_, operand) | IsNoneExpr(operand, _):
                stack.append(operand)
            case BinaryExpr(_, left, right):
                stack.extend((left, right))


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
        return _logic_chain(op, _chain(BinaryExpr(op, left, right)), refs)
    if op in _COMPARISONS:
        return _comparison(op, left, right, refs)
    if op in (BinaryOp.IN, BinaryOp.NOT_IN):
        item = _item_type(type_of(right, refs))
        return f"{python_operand(left, refs, item)} {op.value} {python_operand(right, refs)}"
    # ``+``/``-``: a literal takes the type of the other side, else of the whole.
    left_text = _left_operand(op, left, refs, _beside(type_of(right, refs), expected))
    right_text = python_operand(right, refs, _beside(type_of(left, refs), expected))
    return f"{left_text} {op.value} {right_text}"


def _chain(expr: BinaryExpr) -> list[ExprModel]:
    """``a and b and c`` -> ``[a, b, c]``, down the left spine in a loop: a chain
    of thousands of operands is a left tree as deep as it is long."""
    operands: list[ExprModel] = []
    node: ExprModel = expr
    while isinstance(node, BinaryExpr) and node.op is expr.op:
        operands.append(node.right)
        node = node.left
    operands.append(node)
    return operands[::-1]


def _logic_chain(op: BinaryOp, operands: list[ExprModel], refs: Refs) -> str:
    """``a and b and c`` written flat, as Python holds it, whatever its length."""
    absorbing = LiteralExpr(op is BinaryOp.OR)  # ``x or true``, ``x and false``
    if absorbing in map(_folded, operands):
        return python_expr(absorbing, refs)
    return f" {op.value} ".join(python_operand(operand, refs, _BOOL) for operand in operands)


def _left_operand(op: BinaryOp, left: ExprModel, refs: Refs, expected: ValueType | None) -> str:
    """The left operand of a sum (``a + b - c``) needs no parentheses: Python
    groups it to the left too, and a long sum stays readable."""
    if op in _SUM and isinstance(left, BinaryExpr) and left.op in _SUM:
        return python_expr(left, refs, expected)
    return python_operand(left, refs, expected)


def _folded(expr: ExprModel) -> ExprModel:
    """A comparison of two literals, or of a value with itself, as its value.

    ruff refuses to compare two constants (PLR0133) or a name with itself
    (PLR0124), mypy two literals that cannot be equal. Literals compare in
    Python as the generated code would compare them (``1 == 1.0``, ``"a" <
    "b"``); a value equals itself (no record, event or result holds a NaN).
    """
    match expr:
        case BinaryExpr(op, LiteralExpr(left), LiteralExpr(right)) if op in _COMPARE:
            return LiteralExpr(bool(_COMPARE[op](left, right)))
        case BinaryExpr(op, left, right) if op in _COMPARE and left == right:
            return LiteralExpr(op in (BinaryOp.EQ, BinaryOp.LE, BinaryOp.GE))
    return expr


def _comparison(op: BinaryOp, left: ExprModel, right: ExprModel, refs: Refs) -> str:
    if _constant(left) and not _constant(right):
        op, left, right = _MIRRORED[op], right, left
    if op in (BinaryOp.EQ, BinaryOp.NE) and isinstance(right, LiteralExpr):
        value = right.value
        if value is None or isinstance(value, bool):
            negation = "not " if op is BinaryOp.NE else ""
            return f"{python_operand(left, refs)} is {negation}{value!r}"
    left_text = python_operand(left, refs, type_of(right, refs))
    return f"{left_text} {op.value} {python_operand(right, refs, type_of(left, refs))}"


def _constant(expr: ExprModel) -> bool:
    """Does ``expr`` read nothing (``5 + 5``)? A constant goes right of a comparison."""
    refs = (EventFieldExpr, DataFieldExpr, KeyExpr, MachineIdExpr)
    return not any(isinstance(node, refs) for node in _nodes(expr))


def _written_as(value: object, expected: ValueType | None) -> ValueType:
    """How a literal is written: a decimal number is a ``float`` where a float is
    expected, else a ``Decimal`` (as semantics types it); the rest as it comes."""
    if isinstance(value, Decimal):
        return _FLOAT if _number(expected) is Primitive.FLOAT else _DECIMAL
    return expected or _INT


def _beside(other: ValueType | None, expected: ValueType | None) -> ValueType | None:
    """What a literal operand is expected to be next to an operand of type ``other``.

    Next to a ``float`` or ``Decimal``, that; next to an ``int`` or another
    literal, what the whole sum is expected to be (``data.total - (0.5 -
    event.n)`` into a ``Decimal``: ``Decimal("0.5")``); else ``other``.
    """
    if _number(other) in (Primitive.FLOAT, Primitive.DECIMAL):
        return other
    if other is None or _number(other) is Primitive.INT:
        return expected
    return other


def _number(value_type: ValueType | None) -> Primitive | None:
    inner = value_type.inner if isinstance(value_type, OptionalType) else value_type
    return inner.primitive if isinstance(inner, PrimitiveType) else None


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
        number = _number(side)
        if number in (Primitive.DECIMAL, Primitive.FLOAT):
            return PrimitiveType(number)
    return left or right
