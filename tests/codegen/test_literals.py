"""Values from a ``.pm`` file as Python source, evaluated back to the same value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pmc.codegen.literals import value_literal
from pmc.semantics.model import LiteralValue, OptionalType, Primitive, PrimitiveType, ValueType

STR = PrimitiveType(Primitive.STR)
INT = PrimitiveType(Primitive.INT)
FLOAT = PrimitiveType(Primitive.FLOAT)
DECIMAL = PrimitiveType(Primitive.DECIMAL)
BOOL = PrimitiveType(Primitive.BOOL)


@pytest.mark.parametrize(
    ("value", "value_type", "source", "expected"),
    [
        ("x", STR, '"x"', "x"),
        (None, OptionalType(STR), "None", None),
        ("x", OptionalType(STR), '"x"', "x"),
        (True, BOOL, "True", True),
        (False, BOOL, "False", False),
        (-3, INT, "-3", -3),
        (2, FLOAT, "2", 2),
        (Decimal("2.50"), FLOAT, "2.5", 2.5),
        (Decimal("2.50"), DECIMAL, 'Decimal("2.50")', Decimal("2.50")),
        (2, DECIMAL, "Decimal(2)", Decimal(2)),
        (Decimal(-2), DECIMAL, "Decimal(-2)", Decimal(-2)),
        (Decimal("7.0"), DECIMAL, 'Decimal("7.0")', Decimal("7.0")),
    ],
)
def test_value_literal(
    value: LiteralValue, value_type: ValueType, source: str, expected: object
) -> None:
    literal = value_literal(value, value_type)

    assert literal == source
    assert eval(literal, {"Decimal": Decimal}) == expected  # test-only: checks the text
