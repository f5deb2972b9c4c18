"""Type expressions: resolution to :data:`ValueType`, literal matching, assignability."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from pmc.diagnostics import Diagnostic
from pmc.diagnostics.suggest import did_you_mean
from pmc.semantics.model import (
    DictType,
    ListType,
    LiteralValue,
    OptionalType,
    Primitive,
    PrimitiveType,
    ValueType,
)
from pmc.syntax import ast

PRIMITIVES: dict[str, Primitive] = {p.value: p for p in Primitive}
KNOWN_TYPE_NAMES: tuple[str, ...] = (*PRIMITIVES, "list", "dict", "None")

STR = PrimitiveType(Primitive.STR)
INT = PrimitiveType(Primitive.INT)
KEY_PRIMITIVES = frozenset({Primitive.STR, Primitive.INT, Primitive.UUID})

# Integers widen to the numeric types pydantic converts them to without loss.
_WIDENS_TO: dict[Primitive, frozenset[Primitive]] = {
    Primitive.INT: frozenset({Primitive.FLOAT, Primitive.DECIMAL}),
}


@dataclass(frozen=True, slots=True)
class ResolvedType:
    """A resolved type, or None with the diagnostics that explain why not."""

    type: ValueType | None
    diagnostics: tuple[Diagnostic, ...] = ()


def resolve_type(expr: ast.TypeExpr) -> ResolvedType:
    if isinstance(expr, ast.UnionType):
        return _resolve_union(expr)
    return _resolve_named(expr)


def _resolve_union(expr: ast.UnionType) -> ResolvedType:
    others = [m for m in expr.members if not _is_none(m)]
    if len(expr.members) == 2 and len(others) == 1:
        inner = _resolve_named(others[0])
        if inner.type is None:
            return inner
        return ResolvedType(OptionalType(inner.type))
    # Still resolve the members so that an unknown name inside is reported too.
    nested = tuple(d for m in others for d in _resolve_named(m).diagnostics)
    invalid = Diagnostic(
        "PM0505",
        "a union type must have the form `T | None`",
        expr.span,
        label="unsupported union",
        help="fields can be optional (`T | None`); other unions are not supported",
    )
    return ResolvedType(None, (invalid, *nested))


def _is_none(expr: ast.NamedType) -> bool:
    return expr.name.text == "None" and not expr.args


def _resolve_named(expr: ast.NamedType) -> ResolvedType:
    name = expr.name.text
    if name in PRIMITIVES:
        if expr.args:
            return _invalid(expr, f"`{name}` takes no type arguments", "unexpected arguments")
        return ResolvedType(PrimitiveType(PRIMITIVES[name]))
    if name == "list":
        return _resolve_list(expr)
    if name == "dict":
        return _resolve_dict(expr)
    if name == "None":
        return _invalid(
            expr,
            "`None` is not a type on its own",
            "`None` alone",
            help="write `T | None` for an optional field",
        )
    return ResolvedType(
        None,
        (
            Diagnostic(
                "PM0205",
                f"unknown type `{name}`",
                expr.name.span,
                label="not a known type",
                help=did_you_mean(name, KNOWN_TYPE_NAMES),
            ),
        ),
    )


def _resolve_list(expr: ast.NamedType) -> ResolvedType:
    if len(expr.args) != 1:
        return _invalid(
            expr,
            f"`list` takes exactly one type argument, not {len(expr.args)}",
            "write `list[T]`",
        )
    item = resolve_type(expr.args[0])
    if item.type is None:
        return item
    return ResolvedType(ListType(item.type))


def _resolve_dict(expr: ast.NamedType) -> ResolvedType:
    if len(expr.args) != 2:
        return _invalid(
            expr,
            f"`dict` takes exactly two type arguments, not {len(expr.args)}",
            "write `dict[str, T]`",
        )
    key, value = expr.args
    resolved = resolve_type(value)
    if not (isinstance(key, ast.NamedType) and key.name.text == "str" and not key.args):
        return ResolvedType(
            None,
            (
                Diagnostic(
                    "PM0505",
                    "dictionary keys must be `str`",
                    key.span,
                    label="not `str`",
                    help="event and task fields are stored as JSON, whose object keys are strings",
                ),
                *resolved.diagnostics,
            ),
        )
    if resolved.type is None:
        return resolved
    return ResolvedType(DictType(resolved.type))


def _invalid(
    expr: ast.NamedType, message: str, label: str, help: str | None = None
) -> ResolvedType:
    return ResolvedType(None, (Diagnostic("PM0505", message, expr.span, label=label, help=help),))


def type_text(value_type: ValueType) -> str:
    """The type as it is written in a ``.pm`` file."""
    if isinstance(value_type, PrimitiveType):
        return value_type.primitive.value
    if isinstance(value_type, ListType):
        return f"list[{type_text(value_type.item)}]"
    if isinstance(value_type, DictType):
        return f"dict[str, {type_text(value_type.value)}]"
    return f"{type_text(value_type.inner)} | None"


# ---- literals -------------------------------------------------------------------


def literal_value(literal: ast.Literal) -> LiteralValue:
    if isinstance(literal, ast.NoneLiteral):
        return None
    return literal.value


def literal_value_for(literal: ast.Literal, value_type: ValueType) -> LiteralValue:
    """The literal's value as the field holds it: an integer for a `Decimal` is a `Decimal`.

    Codegen can then write a `Decimal` default as `Decimal("1")` without
    looking at types again. A decimal literal for a `float` stays a `Decimal`
    so that its exact spelling is kept.
    """
    value = literal_value(literal)
    inner = value_type.inner if isinstance(value_type, OptionalType) else value_type
    decimal = isinstance(inner, PrimitiveType) and inner.primitive is Primitive.DECIMAL
    if decimal and isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def literal_kind(literal: ast.Literal) -> str:
    """What the literal is, for messages: ``a string``, ``an integer``..."""
    if isinstance(literal, ast.StringLiteral):
        return "a string"
    if isinstance(literal, ast.IntLiteral):
        return "an integer"
    if isinstance(literal, ast.DecimalLiteral):
        return "a decimal number"
    if isinstance(literal, ast.BoolLiteral):
        return "a boolean"
    return "`none`"


_LITERAL_PRIMITIVES: dict[type, frozenset[Primitive]] = {
    ast.StringLiteral: frozenset({Primitive.STR}),
    ast.IntLiteral: frozenset({Primitive.INT, Primitive.FLOAT, Primitive.DECIMAL}),
    ast.DecimalLiteral: frozenset({Primitive.FLOAT, Primitive.DECIMAL}),
    ast.BoolLiteral: frozenset({Primitive.BOOL}),
}


def literal_matches(literal: ast.Literal, value_type: ValueType) -> bool:
    """Whether ``literal`` is a value of ``value_type`` (``none`` only for ``T | None``)."""
    if isinstance(value_type, OptionalType):
        return isinstance(literal, ast.NoneLiteral) or literal_matches(literal, value_type.inner)
    if isinstance(value_type, PrimitiveType):
        return value_type.primitive in _LITERAL_PRIMITIVES.get(type(literal), frozenset())
    return False


def float_misfit(literal: ast.Literal, value_type: ValueType) -> tuple[str, str] | None:
    """Why a number literal for a `float` does not fit one, as (label, advice), or None.

    Too large, it would become `inf`; too small but not zero, it would
    silently become `0.0`. Integers are bounded by the parser (64 bits); a
    decimal literal is not, since a `Decimal` holds any number of digits.
    """
    inner = value_type.inner if isinstance(value_type, OptionalType) else value_type
    if not (isinstance(inner, PrimitiveType) and inner.primitive is Primitive.FLOAT):
        return None
    if not isinstance(literal, ast.DecimalLiteral | ast.IntLiteral):
        return None
    number = float(literal.value)
    if math.isinf(number):
        return "larger than the largest float (about 1.8e308)", "use a smaller number"
    if number == 0 and literal.value != 0:
        return "too small for a float: it would become 0.0", "write 0, or a larger number"
    return None


# ---- assignability ------------------------------------------------------------------


def assignable(source: ValueType, target: ValueType) -> bool:
    """Whether a value of type ``source`` may be bound to a field of type ``target``.

    The same type; ``T`` into ``T | None``; ``int`` into ``float`` or ``Decimal``.
    Containers must match exactly: the generated code passes them through as they
    are, and ``list`` is invariant for the type checker.
    """
    if source == target:
        return True
    if isinstance(target, OptionalType):
        inner_source = source.inner if isinstance(source, OptionalType) else source
        return assignable(inner_source, target.inner)
    if isinstance(source, PrimitiveType) and isinstance(target, PrimitiveType):
        return target.primitive in _WIDENS_TO.get(source.primitive, frozenset())
    return False


def is_key_type(value_type: ValueType) -> bool:
    return isinstance(value_type, PrimitiveType) and value_type.primitive in KEY_PRIMITIVES


def selector_fan_out(value_type: ValueType) -> bool | None:
    """For a selector field: False for one id, True for a list of ids, None if invalid."""
    if is_key_type(value_type):
        return False
    if isinstance(value_type, ListType) and is_key_type(value_type.item):
        return True
    return None
