"""Expressions: typed where they are written, modelled, and printed back.

``check_expr`` types an AST expression against what it may read there (a
guard, a binding, a ``set`` value, a data condition) and builds its model;
each problem is a diagnostic. ``expr_text`` prints a model expression in
canonical ``.pm`` syntax with only the parentheses its tree needs.

Both walk the tree with an explicit stack, never by recursion: a sum of a
few thousand terms is within the parser's limits, and is checked and
printed in linear time without reaching Python's recursion limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from pmc.diagnostics import Diagnostic, Label
from pmc.diagnostics.suggest import did_you_mean
from pmc.semantics.declarations import FieldInfo
from pmc.semantics.model import (
    BinaryExpr,
    BinaryOp,
    DataFieldExpr,
    DataScope,
    DictType,
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
from pmc.semantics.triggers import TriggerInfo
from pmc.semantics.types import STR, assignable, float_misfit, literal_value, type_text
from pmc.source import Span
from pmc.syntax import ast
from pmc.syntax.strings import quote

BOOL = PrimitiveType(Primitive.BOOL)
INT = PrimitiveType(Primitive.INT)
FLOAT = PrimitiveType(Primitive.FLOAT)
DECIMAL = PrimitiveType(Primitive.DECIMAL)
# The deepest expression the generated Python may hold: far below where
# CPython's compiler (about a thousand levels) or code generation would fail.
MAX_PYTHON_DEPTH = 200
# Chains that Python holds flat, however long.
_FLAT = frozenset({BinaryOp.AND, BinaryOp.OR})


class Special(Enum):
    """Types of literals that are not one value type, worded for messages."""

    NONE = "`none`"  # the literal `none`: fits any `T | None`
    # A decimal literal (or a sum of them and integers): a `float` next to a
    # `float`, else a `Decimal`, so that `data.ratio < 0.5` needs no cast.
    NUMBER = "a decimal number"


ExprType = ValueType | Special


@dataclass(frozen=True, slots=True)
class Readable:
    """What an expression may read where it is written."""

    process: str
    data: Mapping[str, FieldInfo]  # the process's `data` fields
    key_type: ValueType | None  # None: no usable key (already reported)
    machine: str | None = None  # the machine of a transition
    instance: Mapping[str, FieldInfo] | None = None  # its `data`; None: it declares none
    trigger: TriggerInfo | None = None  # None: no trigger here
    # Set where only `data.F` may be read (`complete when`, `fail when`):
    # the clause, for PM0510's message.
    data_only: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    model: ExprModel
    type: ExprType | None  # None: unknown (already reported)
    diagnostics: tuple[Diagnostic, ...]

    @property
    def value_type(self) -> ValueType | None:
        """The type as a model records it (`none` alone has none)."""
        return None if isinstance(self.type, Special) else self.type


def fits(source: ExprType, target: ValueType) -> bool:
    """Whether a value of ``source`` may be stored in (bound to) a ``target``.

    (A decimal number checked against a `float` or `Decimal` has taken that
    type already: ``Special.NUMBER`` fits nothing here.)
    """
    if source is Special.NONE:
        return isinstance(target, OptionalType)
    return not isinstance(source, Special) and assignable(source, target)


def not_bool(expr: ast.Expr, checked: Checked, what: str) -> Iterator[Diagnostic]:
    """PM0507 when a condition's type is known and is not ``bool``."""
    if checked.type is None or checked.type == BOOL:
        return
    help = None
    if checked.type == OptionalType(BOOL):
        help = "it may be none, which is neither true nor false: compare it, `... == true`"
    yield Diagnostic(
        "PM0507",
        f"{what} is {describe(checked.type)}, not a `bool`",
        expr.span,
        label="not a `bool`",
        help=help,
    )


def unfit(checked: Checked, target: ValueType | None) -> str | None:
    """The value's type, worded, when it does not fit ``target``; None when it fits (or a
    type is unknown, already reported)."""
    if target is None or checked.type is None or fits(checked.type, target):
        return None
    return describe(checked.type)


def describe(value_type: ExprType) -> str:
    if isinstance(value_type, Special):
        return value_type.value
    return f"`{type_text(value_type)}`"


# ---- walking the tree ---------------------------------------------------------------


def _children(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(expr, ast.BinaryExpr):
        return (expr.left, expr.right)
    if isinstance(expr, ast.UnaryExpr | ast.IsNoneExpr):
        return (expr.operand,)
    if isinstance(expr, ast.ParenExpr):
        return (expr.inner,)
    return ()


def _postorder(root: ast.Expr) -> list[ast.Expr]:
    """Every node, children before their parent (a reversed pre-order)."""
    order: list[ast.Expr] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(_children(node))
    order.reverse()
    return order


def check_expr(expr: ast.Expr, readable: Readable, expect: ValueType | None = None) -> Checked:
    """Type ``expr`` and build its model; ``expect`` is the type its value goes to, if any.

    Three linear passes: types bottom-up, then the type each decimal literal
    takes top-down (from what it meets), then the model bottom-up.
    """
    order = _postorder(expr)
    found: list[Diagnostic] = []
    narrowed = _narrowed(expr)
    types: dict[int, ExprType | None] = {}
    for node in order:
        node_type = _type_of(node, types, readable, found)
        if isinstance(node_type, OptionalType) and _ref_key(node) in narrowed.get(id(node), ()):
            node_type = node_type.inner
        types[id(node)] = node_type
    number_as = {id(expr): _number_target(expect)}
    for node in reversed(order):
        number_as.update(_child_numbers(node, types, number_as.get(id(node), Primitive.DECIMAL)))
    models: dict[int, ExprModel] = {}
    for node in order:
        models[id(node)] = _model_of(node, models, types, number_as, node is expr, found)
    root_type = types[id(expr)]
    if root_type is Special.NUMBER and _fits_number(expect):
        root_type = PrimitiveType(number_as[id(expr)])
    depth = python_depth(models[id(expr)])
    if depth > MAX_PYTHON_DEPTH:
        found.append(_too_deep(expr, depth))
    return Checked(models[id(expr)], root_type, tuple(found))


def python_depth(expr: ExprModel) -> int:
    """How deeply ``expr`` nests as Python, which code generation writes it in.

    ``a and b and c`` is one level: Python holds it as one flat ``BoolOp``,
    and the code generator writes it in a loop. ``a - b - c`` is a level per
    operator: Python nests it, and its compiler fails near a thousand levels.
    Walked with a stack, so any depth is measured.
    """
    deepest = 0
    stack = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        match node:
            case UnaryExpr(_, operand) | IsNoneExpr(operand, _):
                stack.append((operand, level + 1))
            case BinaryExpr(op, left, right):
                flat = op in _FLAT and isinstance(left, BinaryExpr) and left.op is op
                stack.extend(((left, level if flat else level + 1), (right, level + 1)))
    return deepest


def _too_deep(expr: ast.Expr, depth: int) -> Diagnostic:
    return Diagnostic(
        "PM0005",
        f"an expression is nested {depth} levels deep as Python (the limit is {MAX_PYTHON_DEPTH})",
        expr.span,
        help="a chain of `+` and `-` nests a level per operator: keep part of it in a `data` field",
    )


# ---- narrowing ----------------------------------------------------------------------

# A reference narrowing can apply to: `event.F`, or `data.F` / `instance.F`.
_RefKey = tuple[str, str]


def _ref_key(node: ast.Expr) -> _RefKey | None:
    while isinstance(node, ast.ParenExpr):
        node = node.inner
    if isinstance(node, ast.EventFieldRef):
        return ("event", node.field.text)
    if isinstance(node, ast.DataFieldRef):
        return (node.scope.value, node.field.text)
    return None


def _operands(node: ast.Expr, op: ast.BinaryOp) -> Iterator[ast.Expr]:
    """The conjuncts (``op`` is `and`) or disjuncts (`or`) of ``node``, parentheses seen through."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.ParenExpr):
            stack.append(node.inner)
        elif isinstance(node, ast.BinaryExpr) and node.op is op:
            stack.extend((node.right, node.left))
        else:
            yield node


def _none_test(node: ast.Expr) -> tuple[_RefKey, bool] | None:
    """``(R, negated)`` when ``node`` tests a reference R against none: `R is none`,
    `R is not none`, `R == none`, `R != none`, or `not` of one of them."""
    while isinstance(node, ast.ParenExpr):
        node = node.inner
    if isinstance(node, ast.UnaryExpr) and node.op is ast.UnaryOp.NOT:
        inner = _none_test(node.operand)
        return None if inner is None else (inner[0], not inner[1])
    if isinstance(node, ast.IsNoneExpr):
        key = _ref_key(node.operand)
        return None if key is None else (key, node.negated)
    if isinstance(node, ast.BinaryExpr) and node.op in (ast.BinaryOp.EQ, ast.BinaryOp.NE):
        sides = (node.left, node.right)
        others = [side for side in sides if not isinstance(side, ast.NoneLiteral)]
        key = _ref_key(others[0]) if len(others) == 1 else None
        return None if key is None else (key, node.op is ast.BinaryOp.NE)
    return None


def _proven(left: ast.Expr, op: ast.BinaryOp) -> frozenset[_RefKey]:
    """The references ``left`` proves not none where the right operand of ``op`` runs:
    each `R is not none` conjunct of an `and`, each `R is none` disjunct of an `or`."""
    wanted = op is ast.BinaryOp.AND
    tests = (_none_test(part) for part in _operands(left, op))
    return frozenset(test[0] for test in tests if test is not None and test[1] is wanted)


def _narrowed(root: ast.Expr) -> dict[int, frozenset[_RefKey]]:
    """For each node, the references known not none where it is evaluated.

    Only `and` and `or` narrow, and only references (as Python's and mypy's
    short-circuit do for the generated code): in `A and B`, B runs only when A
    holds; in `A or B`, only when A does not. A test of R against none still
    sees R's declared type: `data.d is none or data.d == none` is redundant,
    not wrong.
    """
    narrowed = {id(root): frozenset[_RefKey]()}
    stack = [root]
    while stack:
        node = stack.pop()
        known = narrowed[id(node)]
        tested = _none_test(node)
        if tested is not None and not isinstance(node, ast.UnaryExpr | ast.ParenExpr):
            known = known - {tested[0]}
        for child in _children(node):
            narrowed[id(child)] = known
            stack.append(child)
        logic = (ast.BinaryOp.AND, ast.BinaryOp.OR)
        if isinstance(node, ast.BinaryExpr) and node.op in logic:
            narrowed[id(node.right)] = known | _proven(node.left, node.op)
    return narrowed


def _fits_number(target: ValueType | None) -> bool:
    """Whether a decimal number may be stored in ``target``: a `float` or a `Decimal`."""
    inner = target.inner if isinstance(target, OptionalType) else target
    return inner in (FLOAT, DECIMAL)


# ---- pass 1: types ------------------------------------------------------------------


_LITERAL_TYPES: dict[type, ExprType] = {
    ast.StringLiteral: STR,
    ast.IntLiteral: INT,
    ast.DecimalLiteral: Special.NUMBER,
    ast.BoolLiteral: BOOL,
    ast.NoneLiteral: Special.NONE,
}
_ARITHMETIC = frozenset({BinaryOp.ADD, BinaryOp.SUB})
_ORDERING = frozenset({BinaryOp.LT, BinaryOp.LE, BinaryOp.GT, BinaryOp.GE})
_EQUALITY = frozenset({BinaryOp.EQ, BinaryOp.NE})
_MEMBERSHIP = frozenset({BinaryOp.IN, BinaryOp.NOT_IN})
_LOGIC = frozenset({BinaryOp.AND, BinaryOp.OR})
_ORDERED = frozenset({Primitive.STR, Primitive.DATE, Primitive.DATETIME})
_NUMERIC = frozenset({Primitive.INT, Primitive.FLOAT, Primitive.DECIMAL})


def _type_of(
    node: ast.Expr,
    types: Mapping[int, ExprType | None],
    readable: Readable,
    found: list[Diagnostic],
) -> ExprType | None:
    if type(node) in _LITERAL_TYPES:
        return _LITERAL_TYPES[type(node)]
    if isinstance(node, ast.EventFieldRef):
        return _event_field(node, readable, found)
    if isinstance(node, ast.MachineIdRef | ast.KeyRef):
        return _context_value(node, readable, found)
    if isinstance(node, ast.DataFieldRef):
        return _data_field(node, readable, found)
    if isinstance(node, ast.ParenExpr):
        return types[id(node.inner)]
    if isinstance(node, ast.UnaryExpr):
        return _unary(node, types[id(node.operand)], found)
    if isinstance(node, ast.IsNoneExpr):
        operand = types[id(node.operand)]
        if operand is not None and not isinstance(operand, OptionalType):
            found.append(_never_none(node.operand, operand))
        return BOOL
    assert isinstance(node, ast.BinaryExpr)
    return _binary(node, types[id(node.left)], types[id(node.right)], found)


def _not_here(what: str, span: Span, readable: Readable) -> Diagnostic:
    return Diagnostic(
        "PM0510",
        f"{what} cannot be read in {readable.data_only}",
        span,
        label=f"{readable.data_only} reads only `data`",
        help="it is checked on the process's record after every event: "
        "keep what it needs in `data` (`set data.FIELD = ...` on a transition)",
    )


def _context_value(
    node: ast.MachineIdRef | ast.KeyRef, readable: Readable, found: list[Diagnostic]
) -> ExprType | None:
    name = "machine_id" if isinstance(node, ast.MachineIdRef) else "key"
    if readable.data_only is not None:
        found.append(_not_here(f"`{name}`", node.span, readable))
        return None
    # Always text: a single-instance machine's id is its name.
    return STR if isinstance(node, ast.MachineIdRef) else readable.key_type


def _event_field(
    ref: ast.EventFieldRef, readable: Readable, found: list[Diagnostic]
) -> ExprType | None:
    if readable.data_only is not None:
        found.append(_not_here(f"`event.{ref.field.text}`", ref.span, readable))
        return None
    trigger = readable.trigger
    if trigger is None or trigger.fields is None:
        return None
    if ref.field.text not in trigger.fields:
        found.append(trigger_field_diagnostic(ref, trigger))
        return None
    return trigger.fields[ref.field.text]


def trigger_field_diagnostic(ref: ast.EventFieldRef, trigger: TriggerInfo) -> Diagnostic:
    """PM0604: ``event.FIELD`` names a field the trigger does not carry."""
    assert trigger.fields is not None
    if trigger.is_timer:
        label = "a timer carries no fields"
        help = None
    else:
        label = f"not carried by {trigger.display}"
        available = ", ".join(f"`{name}`" for name in trigger.fields)
        help = did_you_mean(ref.field.text, trigger.fields)
        if help is None and available:
            help = f"{trigger.display} carries {available}"
        elif help is None and trigger.task is not None:
            help = f"task `{trigger.task}` returns nothing; declare a `returns {{ ... }}` block"
    return Diagnostic(
        "PM0604",
        f"`event.{ref.field.text}` is not present on the trigger {trigger.display}",
        ref.span,
        label=label,
        help=help,
    )


def data_field_type(
    ref: ast.DataFieldRef, readable: Readable
) -> tuple[ValueType | None, Diagnostic | None]:
    """The type of ``data.F`` / ``instance.F`` (None: unknown), or PM0207 / PM0510."""
    field = ref.field.text
    if ref.scope is ast.DataScope.DATA:
        fields: Mapping[str, FieldInfo] | None = readable.data
        owner = f"process `{readable.process}`"
    else:
        if readable.data_only is not None:
            return None, _not_here(f"`instance.{field}`", ref.span, readable)
        fields = readable.instance
        owner = f"machine `{readable.machine}`"
    if fields is not None and field in fields:
        return fields[field].type, None
    if fields is None or not fields:
        label = f"{owner} declares no `data`"
        help = f"declare it: `data {{ {field}: TYPE = DEFAULT }}`"
    else:
        label = f"not declared in the `data` of {owner}"
        help = did_you_mean(field, fields) or "declared: " + ", ".join(f"`{f}`" for f in fields)
    unknown = Diagnostic(
        "PM0207",
        f"unknown data field `{ref.scope.value}.{field}`",
        ref.field.span,
        label=label,
        help=help,
    )
    return None, unknown


def _data_field(
    ref: ast.DataFieldRef, readable: Readable, found: list[Diagnostic]
) -> ExprType | None:
    value_type, problem = data_field_type(ref, readable)
    if problem is not None:
        found.append(problem)
    return value_type


def _unary(node: ast.UnaryExpr, operand: ExprType | None, found: list[Diagnostic]) -> ExprType:
    if node.op is ast.UnaryOp.NOT:
        if operand is not None and operand != BOOL:
            found.append(_needs_bool("not", node.operand, operand))
        return BOOL
    sized = operand == STR or isinstance(operand, ListType | DictType)
    if operand is not None and not sized:
        found.append(_bad_len(node.operand, operand))
    return INT


def _binary(
    node: ast.BinaryExpr,
    left: ExprType | None,
    right: ExprType | None,
    found: list[Diagnostic],
) -> ExprType | None:
    op = BinaryOp(node.op.value)
    if left is None or right is None:
        return None if op in _ARITHMETIC else BOOL
    if op in _LOGIC:
        found.extend(
            _needs_bool(op.value, side, side_type)
            for side, side_type in ((node.left, left), (node.right, right))
            if side_type != BOOL
        )
        return BOOL
    if op in _ARITHMETIC:
        result = _arithmetic(op, left, right)
        if result is None:
            found.append(_operator_mismatch(node, left, right))
        return result
    if op in _MEMBERSHIP:
        if not isinstance(right, ListType):
            found.append(_not_a_list(node, right))
        elif not _comparable(left, right.item):
            found.append(_operator_mismatch(node, left, right, f"items are {describe(right.item)}"))
        return BOOL
    if op in _ORDERING and not _orderable(left, right):
        # The caret goes on what to fix: a value that may be none, if one is.
        on_left = isinstance(left, OptionalType) and not isinstance(right, OptionalType)
        mismatch = _operator_mismatch(node, left, right, _ordering_help(left, right), on_left)
        found.append(mismatch)
    elif op in _EQUALITY and not _comparable(left, right):
        if Special.NONE in (left, right):
            other, side = (right, node.right) if left is Special.NONE else (left, node.left)
            found.append(_never_none(side, other))
        else:
            found.append(_operator_mismatch(node, left, right))
    return BOOL


def _number_kind(value_type: ExprType) -> Primitive | Special | None:
    """``int``, ``float``, ``Decimal`` or a decimal literal; None for a non-number."""
    if value_type is Special.NUMBER:
        return Special.NUMBER
    if isinstance(value_type, PrimitiveType) and value_type.primitive in _NUMERIC:
        return value_type.primitive
    return None


def _numbers(left: ExprType, right: ExprType) -> ExprType | None:
    """The type two numbers combine to; None if they do not (`float` with `Decimal`)."""
    kinds = {_number_kind(left), _number_kind(right)}
    if None in kinds or kinds == {Primitive.FLOAT, Primitive.DECIMAL}:
        return None
    for widest in (Primitive.FLOAT, Primitive.DECIMAL):
        if widest in kinds:
            return PrimitiveType(widest)
    return Special.NUMBER if Special.NUMBER in kinds else INT


def _arithmetic(op: BinaryOp, left: ExprType, right: ExprType) -> ExprType | None:
    if op is BinaryOp.ADD and left == STR and right == STR:
        return STR
    return _numbers(left, right)


def _orderable(left: ExprType, right: ExprType) -> bool:
    if _numbers(left, right) is not None:
        return True
    return left == right and isinstance(left, PrimitiveType) and left.primitive in _ORDERED


def _comparable(left: ExprType, right: ExprType) -> bool:
    """`==`: the same type, or numbers that mix; `T | None` with `T` or `none`."""
    if Special.NONE in (left, right):
        return isinstance(left, OptionalType) or isinstance(right, OptionalType)
    left = left.inner if isinstance(left, OptionalType) else left
    right = right.inner if isinstance(right, OptionalType) else right
    return left == right or _numbers(left, right) is not None


def _ordering_help(left: ExprType, right: ExprType) -> str:
    if isinstance(left, OptionalType) or isinstance(right, OptionalType):
        return (
            "a value that may be none has no order: "
            "test it with `is not none and ...` in the same expression"
        )
    return "`<`, `<=`, `>`, `>=` compare numbers, `str`, `date` or `datetime` of one type"


# ---- diagnostics ----------------------------------------------------------------------


def _float_and_decimal(left: ExprType, right: ExprType) -> bool:
    return {_number_kind(left), _number_kind(right)} == {Primitive.FLOAT, Primitive.DECIMAL}


def _operator_mismatch(
    node: ast.BinaryExpr,
    left: ExprType,
    right: ExprType,
    help: str | None = None,
    on_left: bool = False,
) -> Diagnostic:
    """PM0506 for a binary operator; the caret is on the right operand unless ``on_left``."""
    if _float_and_decimal(left, right):
        help = "`float` and `Decimal` never mix: declare both `Decimal` (exact) or both `float`"
    sides = [(node.right.span, describe(right)), (node.left.span, describe(left))]
    if on_left:
        sides.reverse()
    (primary, label), (other, other_label) = sides
    return Diagnostic(
        "PM0506",
        f"`{node.op.value}` does not apply to {describe(left)} and {describe(right)}",
        primary,
        label=label,
        labels=(Label(other, other_label),),
        help=help,
    )


def _needs_bool(op: str, operand: ast.Expr, operand_type: ExprType) -> Diagnostic:
    help = None
    if operand_type == OptionalType(BOOL):
        help = "compare it: `... == true`"
    return Diagnostic(
        "PM0506",
        f"`{op}` needs `bool` operands, not {describe(operand_type)}",
        operand.span,
        label=f"{describe(operand_type)}, not `bool`",
        help=help,
    )


def _bad_len(operand: ast.Expr, operand_type: ExprType) -> Diagnostic:
    help = "`len` takes a `str`, a `list` or a `dict`"
    if isinstance(operand_type, OptionalType):
        help = "a value that may be none has no length: " + help
    return Diagnostic(
        "PM0506",
        f"`len` does not apply to {describe(operand_type)}",
        operand.span,
        label=describe(operand_type),
        help=help,
    )


def _never_none(operand: ast.Expr, operand_type: ExprType) -> Diagnostic:
    return Diagnostic(
        "PM0506",
        f"this value is never none: it is {describe(operand_type)}",
        operand.span,
        label=f"{describe(operand_type)}, not optional",
        help="only a `T | None` value can be none; drop the test, or declare the field optional",
    )


def _not_a_list(node: ast.BinaryExpr, right: ExprType) -> Diagnostic:
    return Diagnostic(
        "PM0506",
        f"`{node.op.value}` needs a list on its right, not {describe(right)}",
        node.right.span,
        label=f"{describe(right)}, not a `list`",
        help="`x in L` tests whether `L`, a `list[T]`, holds `x`",
    )


# ---- pass 2: decimal literals -----------------------------------------------------------


def _number_target(expect: ExprType | None) -> Primitive:
    """The type a decimal literal becomes where ``expect`` is wanted: `float` or `Decimal`."""
    if isinstance(expect, OptionalType):
        expect = expect.inner
    return Primitive.FLOAT if expect == FLOAT else Primitive.DECIMAL


def _child_numbers(
    node: ast.Expr, types: Mapping[int, ExprType | None], own: Primitive
) -> Iterator[tuple[int, Primitive]]:
    """What each decimal-literal child of ``node`` becomes, given what ``node`` becomes."""
    if isinstance(node, ast.ParenExpr):
        yield id(node.inner), own
        return
    if not isinstance(node, ast.BinaryExpr):
        return
    op = BinaryOp(node.op.value)
    inherited = own if types[id(node)] is Special.NUMBER else Primitive.DECIMAL
    if op in _MEMBERSHIP:
        right = types[id(node.right)]
        if isinstance(right, ListType):
            yield id(node.left), _number_target(right.item)
        return
    if op in _LOGIC:
        return
    pairs = ((node.left, node.right), (node.right, node.left))
    for side, other in pairs:
        if types[id(side)] is not Special.NUMBER:
            continue
        other_type = types[id(other)]
        if other_type is Special.NUMBER or other_type == INT or other_type is None:
            yield id(side), inherited
        else:
            yield id(side), _number_target(other_type)


# ---- pass 3: the model -------------------------------------------------------------------


def _model_of(
    node: ast.Expr,
    models: Mapping[int, ExprModel],
    types: Mapping[int, ExprType | None],
    number_as: Mapping[int, Primitive],
    is_root: bool,
    found: list[Diagnostic],
) -> ExprModel:
    if isinstance(node, ast.DecimalLiteral):
        as_type = PrimitiveType(number_as.get(id(node), Primitive.DECIMAL))
        misfit = float_misfit(node, as_type)
        # A literal standing alone is the value of a binding or an assignment,
        # whose own check words this.
        if misfit is not None and not is_root:
            found.append(
                Diagnostic(
                    "PM0506",
                    "this number does not fit a float",
                    node.span,
                    label=misfit[0],
                    help=f"{misfit[1]}, or use `Decimal` values",
                )
            )
        return LiteralExpr(node.value, as_type)
    if isinstance(node, ast.StringLiteral | ast.IntLiteral | ast.BoolLiteral | ast.NoneLiteral):
        literal_type = types[id(node)]
        return LiteralExpr(
            literal_value(node), None if isinstance(literal_type, Special) else literal_type
        )
    if isinstance(node, ast.EventFieldRef):
        return EventFieldExpr(node.field.text)
    if isinstance(node, ast.MachineIdRef):
        return MachineIdExpr()
    if isinstance(node, ast.KeyRef):
        return KeyExpr()
    if isinstance(node, ast.DataFieldRef):
        return DataFieldExpr(DataScope(node.scope.value), node.field.text)
    if isinstance(node, ast.ParenExpr):
        return models[id(node.inner)]
    if isinstance(node, ast.UnaryExpr):
        return UnaryExpr(UnaryOp(node.op.value), models[id(node.operand)])
    if isinstance(node, ast.IsNoneExpr):
        return IsNoneExpr(models[id(node.operand)], node.negated)
    assert isinstance(node, ast.BinaryExpr)
    op = BinaryOp(node.op.value)
    left, right = models[id(node.left)], models[id(node.right)]
    # `x == none` means `x is none`: one model, and Python code without `== None`.
    if op in _EQUALITY and isinstance(right, LiteralExpr) and right.value is None:
        return IsNoneExpr(left, op is BinaryOp.NE)
    if op in _EQUALITY and isinstance(left, LiteralExpr) and left.value is None:
        return IsNoneExpr(right, op is BinaryOp.NE)
    return BinaryExpr(op, left, right)


# ---- printing -----------------------------------------------------------------------------


# Binding strength, loosest first, as the grammar nests them.
_OR, _AND, _NOT, _COMPARISON, _SUM, _ATOM = range(6)
_PRECEDENCE = {
    BinaryOp.OR: _OR,
    BinaryOp.AND: _AND,
    BinaryOp.ADD: _SUM,
    BinaryOp.SUB: _SUM,
}


def _precedence(expr: ExprModel) -> int:
    if isinstance(expr, BinaryExpr):
        return _PRECEDENCE.get(expr.op, _COMPARISON)
    if isinstance(expr, IsNoneExpr):
        return _COMPARISON
    if isinstance(expr, UnaryExpr) and expr.op is UnaryOp.NOT:
        return _NOT
    return _ATOM


def _literal_text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Decimal):
        # Positional, never `1E-7`: the literal must read back as written.
        return format(value, "f")
    return str(value)


def _leaf_text(expr: ExprModel) -> str:
    if isinstance(expr, LiteralExpr):
        return _literal_text(expr.value)
    if isinstance(expr, EventFieldExpr):
        return f"event.{expr.field}"
    if isinstance(expr, DataFieldExpr):
        return f"{expr.scope.value}.{expr.field}"
    if isinstance(expr, KeyExpr):
        return "key"
    assert isinstance(expr, MachineIdExpr)
    return "machine_id"


# A piece still to print: text as is, or an expression that needs at least
# this binding strength to stand without parentheses.
_Piece = str | tuple[ExprModel, int]


def _pieces(expr: ExprModel) -> tuple[_Piece, ...]:
    """What ``expr`` prints as, one level deep: text and operands with their context."""
    if isinstance(expr, BinaryExpr):
        level = _precedence(expr)
        # Sums, `and` and `or` group to the left, and comparisons do not chain:
        # a right operand of the same strength, or any comparison's operand
        # that is itself a comparison, needs parentheses.
        left = level + 1 if level == _COMPARISON else level
        return ((expr.left, left), f" {expr.op.value} ", (expr.right, level + 1))
    if isinstance(expr, IsNoneExpr):
        return ((expr.operand, _SUM), " is not none" if expr.negated else " is none")
    if isinstance(expr, UnaryExpr) and expr.op is UnaryOp.NOT:
        return ("not ", (expr.operand, _NOT))
    if isinstance(expr, UnaryExpr):
        return ("len(", (expr.operand, _OR), ")")
    return (_leaf_text(expr),)


def expr_text(expr: ExprModel) -> str:
    """``expr`` in canonical ``.pm`` syntax, parenthesised only where its tree needs it."""
    out: list[str] = []
    stack: list[_Piece] = [(expr, _OR)]
    while stack:
        piece = stack.pop()
        if isinstance(piece, str):
            out.append(piece)
            continue
        node, needed = piece
        pieces = _pieces(node)
        if _precedence(node) < needed:
            pieces = ("(", *pieces, ")")
        stack.extend(reversed(pieces))
    return "".join(out)
