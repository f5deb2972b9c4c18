"""Model expressions as Python (every compound operand parenthesised) and as ``.pm`` text."""

from __future__ import annotations

import ast
from decimal import Decimal

import pytest

from pmc.codegen.expressions import Refs, check_depth, names_read, python_expr
from pmc.codegen.formatter import CodegenError
from pmc.semantics.expressions import MAX_PYTHON_DEPTH as MAX_DEPTH
from pmc.semantics.expressions import expr_text
from pmc.semantics.model import (
    BinaryOp,
    EventFieldExpr,
    ExprModel,
    IsNoneExpr,
    KeyExpr,
    ListType,
    MachineIdExpr,
    OptionalType,
    Primitive,
    PrimitiveType,
    UnaryExpr,
    UnaryOp,
)
from tests.codegen.second_edition import DECIMAL, HOSTILE, INT, STR, binary, data, instance, lit

FLOAT = PrimitiveType(Primitive.FLOAT)
REFS = Refs(
    event="_s.event",
    data="_s.data",
    instance="_s.instance",
    machine_id="_s.machine_id",
    key="_key",
    event_fields={"reason": STR, "price": FLOAT},
    data_fields={
        "n": INT,
        "amount": DECIMAL,
        "ratio": FLOAT,
        "tags": ListType(STR),
        "maybe": OptionalType(STR),
        "flag": PrimitiveType(Primitive.BOOL),
    },
    instance_fields={"tries": INT},
    key_type=STR,
)
N, AMOUNT, TAGS, MAYBE, FLAG = data("n"), data("amount"), data("tags"), data("maybe"), data("flag")
AND, OR, EQ, NE, LT = BinaryOp.AND, BinaryOp.OR, BinaryOp.EQ, BinaryOp.NE, BinaryOp.LT
ADD, SUB, IN = BinaryOp.ADD, BinaryOp.SUB, BinaryOp.IN


def not_(operand: ExprModel) -> UnaryExpr:
    return UnaryExpr(UnaryOp.NOT, operand)


CASES: list[tuple[ExprModel, str, str]] = [
    # (model, Python, .pm)
    (binary(LT, N, lit(3)), "_s.data.n < 3", "data.n < 3"),
    (
        binary(OR, binary(AND, FLAG, binary(LT, N, lit(3))), FLAG),
        "(_s.data.flag and (_s.data.n < 3)) or _s.data.flag",
        "data.flag and data.n < 3 or data.flag",
    ),
    (
        binary(AND, FLAG, binary(OR, FLAG, FLAG)),
        "_s.data.flag and (_s.data.flag or _s.data.flag)",
        "data.flag and (data.flag or data.flag)",
    ),
    (
        binary(SUB, N, binary(SUB, N, lit(1))),
        "_s.data.n - (_s.data.n - 1)",
        "data.n - (data.n - 1)",
    ),
    (
        binary(SUB, binary(SUB, N, lit(1)), lit(-1)),
        "_s.data.n - 1 - -1",
        "data.n - 1 - -1",
    ),
    (
        binary(EQ, binary(LT, N, lit(1)), FLAG),
        "(_s.data.n < 1) == _s.data.flag",
        "(data.n < 1) == data.flag",
    ),
    # A fractional literal takes the type of what it meets.
    (
        binary(ADD, AMOUNT, lit(Decimal("1.50"))),
        '_s.data.amount + Decimal("1.50")',
        "data.amount + 1.50",
    ),
    (binary(LT, data("ratio"), lit(Decimal("0.5"))), "_s.data.ratio < 0.5", "data.ratio < 0.5"),
    # Beside an int, what the whole is expected to be (a pinned ed2-props finding).
    (
        binary(SUB, AMOUNT, binary(SUB, lit(Decimal("0.5")), instance("tries"))),
        '_s.data.amount - (Decimal("0.5") - _s.instance.tries)',
        "data.amount - (0.5 - instance.tries)",
    ),
    (
        binary(ADD, data("ratio"), binary(SUB, lit(Decimal("0.5")), instance("tries"))),
        "_s.data.ratio + (0.5 - _s.instance.tries)",
        "data.ratio + (0.5 - instance.tries)",
    ),
    (binary(LT, N, lit(Decimal("0.5"))), '_s.data.n < Decimal("0.5")', "data.n < 0.5"),
    (
        binary(LT, lit(Decimal("0.5")), AMOUNT),
        '_s.data.amount > Decimal("0.5")',
        "0.5 < data.amount",
    ),
    # Spellings the linters want, with the same value.
    (binary(EQ, MAYBE, lit(None)), "_s.data.maybe is None", "data.maybe == none"),
    (binary(NE, lit(None), MAYBE), "_s.data.maybe is not None", "none != data.maybe"),
    (binary(EQ, FLAG, lit(True)), "_s.data.flag is True", "data.flag == true"),
    (
        binary(EQ, lit("x"), EventFieldExpr("reason")),
        '_s.event.reason == "x"',
        '"x" == event.reason',
    ),
    (not_(binary(EQ, N, lit(1))), "_s.data.n != 1", "not data.n == 1"),
    (not_(binary(IN, lit("a"), TAGS)), '"a" not in _s.data.tags', 'not "a" in data.tags'),
    (not_(IsNoneExpr(MAYBE, negated=False)), "_s.data.maybe is not None", "not data.maybe is none"),
    (not_(not_(FLAG)), "_s.data.flag", "not not data.flag"),
    (
        not_(binary(AND, FLAG, FLAG)),
        "not (_s.data.flag and _s.data.flag)",
        "not (data.flag and data.flag)",
    ),
    (binary(OR, FLAG, lit(True)), "True", "data.flag or true"),
    (binary(AND, lit(False), FLAG), "False", "false and data.flag"),
    (binary(EQ, lit(4), lit(5)), "False", "4 == 5"),
    (binary(NE, lit(1), lit(Decimal("1.0"))), "False", "1 != 1.0"),
    (binary(LT, lit(Decimal("0.5")), lit(1)), "True", "0.5 < 1"),
    (binary(BinaryOp.GE, KeyExpr(), KeyExpr()), "True", "key >= key"),
    (binary(LT, N, N), "False", "data.n < data.n"),
    (binary(LT, binary(ADD, lit(5), lit(5)), N), "_s.data.n > (5 + 5)", "5 + 5 < data.n"),
    (binary(OR, FLAG, binary(EQ, lit("a"), lit("a"))), "True", 'data.flag or "a" == "a"'),
    # References, len, membership.
    (
        binary(
            EQ, UnaryExpr(UnaryOp.LEN, binary(ADD, MachineIdExpr(), KeyExpr())), instance("tries")
        ),
        "len(_s.machine_id + _key) == _s.instance.tries",
        "len(machine_id + key) == instance.tries",
    ),
    (
        IsNoneExpr(binary(ADD, MAYBE, MAYBE), negated=True),
        "(_s.data.maybe + _s.data.maybe) is not None",
        "data.maybe + data.maybe is not none",
    ),
    (binary(IN, MachineIdExpr(), TAGS), "_s.machine_id in _s.data.tags", "machine_id in data.tags"),
    (binary(EQ, EventFieldExpr("reason"), lit(HOSTILE)), None, None),
]


@pytest.mark.parametrize(("model", "python", "pm"), CASES)
def test_an_expression_compiles_to_python_and_prints_as_pm(
    model: ExprModel, python: str | None, pm: str | None
) -> None:
    compiled = python_expr(model, REFS)

    ast.parse(compiled, mode="eval")  # one expression, whatever the literals hold
    if python is not None:
        assert compiled == python
    if pm is not None:
        assert expr_text(model) == pm


def test_a_hostile_string_stays_one_literal() -> None:
    compiled = python_expr(binary(EQ, EventFieldExpr("reason"), lit(HOSTILE)), REFS)

    tree = ast.parse(compiled, mode="eval").body
    assert isinstance(tree, ast.Compare) and isinstance(tree.comparators[0], ast.Constant)
    assert tree.comparators[0].value == HOSTILE
    assert expr_text(lit(HOSTILE)) == '"\\"\\"\\"\\n\'\\\\\\" ); import os #"'


def test_a_literal_takes_the_type_it_is_written_into() -> None:
    # A decimal number is a float only where a float is expected (as semantics types it).
    assert python_expr(lit(Decimal("2.5")), REFS, FLOAT) == "2.5"
    assert python_expr(lit(Decimal("2.5")), REFS) == 'Decimal("2.5")'
    assert python_expr(lit(2), REFS, DECIMAL) == "Decimal(2)"
    assert python_expr(lit(None), REFS, OptionalType(STR)) == "None"


def sum_of(terms: int) -> ExprModel:
    """``data.n + data.n + ...``: a left-leaning tree ``terms`` levels deep."""
    expr: ExprModel = N
    for _ in range(terms - 1):
        expr = binary(ADD, expr, N)
    return expr


def test_a_chain_is_written_flat_as_python_groups_it_the_same() -> None:
    chain = binary(AND, binary(AND, FLAG, FLAG), binary(OR, binary(OR, FLAG, FLAG), FLAG))

    assert python_expr(chain, REFS) == (
        "_s.data.flag and _s.data.flag and (_s.data.flag or _s.data.flag or _s.data.flag)"
    )
    assert python_expr(sum_of(4), REFS) == " + ".join(["_s.data.n"] * 4)


def test_the_deepest_expression_allowed_compiles() -> None:
    deepest = sum_of(MAX_DEPTH)
    check_depth(deepest)

    compile(python_expr(deepest, REFS), "<generated>", "eval")


def test_a_deeper_expression_is_a_codegen_error_not_a_crash() -> None:
    with pytest.raises(CodegenError, match=f"5002 levels deep, more than .* \\({MAX_DEPTH}\\)"):
        check_depth(sum_of(5002))


def test_the_names_an_expression_reads_leave_out_attributes_and_strings() -> None:
    code = '_s.event.api_key + "_key" + len(_key)'

    assert names_read(code) == {"_s", "len", "_key"}
    assert "_key" not in names_read(python_expr(binary(BinaryOp.GE, KeyExpr(), KeyExpr()), REFS))
