"""``expr_text``: a model expression printed as ``.pm`` text, with only the parentheses it needs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pmc.semantics.expressions import expr_text
from pmc.semantics.model import (
    BinaryExpr,
    BinaryOp,
    DataFieldExpr,
    DataScope,
    EventFieldExpr,
    ExprModel,
    IsNoneExpr,
    KeyExpr,
    LiteralExpr,
    MachineIdExpr,
    UnaryExpr,
    UnaryOp,
)
from tests.semantics.helpers import analyze_text, machine_process

A = DataFieldExpr(DataScope.DATA, "a")
B = DataFieldExpr(DataScope.INSTANCE, "b")
C = EventFieldExpr("c")


def binary(op: str, left: ExprModel, right: ExprModel) -> BinaryExpr:
    return BinaryExpr(BinaryOp(op), left, right)


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (binary("-", binary("-", A, B), C), "data.a - instance.b - event.c"),
        (binary("-", A, binary("-", B, C)), "data.a - (instance.b - event.c)"),
        (binary("and", binary("or", A, B), C), "(data.a or instance.b) and event.c"),
        (binary("or", A, binary("and", B, C)), "data.a or instance.b and event.c"),
        (binary("and", UnaryExpr(UnaryOp.NOT, A), B), "not data.a and instance.b"),
        (UnaryExpr(UnaryOp.NOT, binary("and", A, B)), "not (data.a and instance.b)"),
        (UnaryExpr(UnaryOp.NOT, UnaryExpr(UnaryOp.NOT, A)), "not not data.a"),
        (binary("==", binary("<", A, B), C), "(data.a < instance.b) == event.c"),
        (binary("+", A, binary("==", B, C)), "data.a + (instance.b == event.c)"),
        (UnaryExpr(UnaryOp.LEN, binary("+", A, B)), "len(data.a + instance.b)"),
        (IsNoneExpr(binary("+", A, B), negated=True), "data.a + instance.b is not none"),
        (IsNoneExpr(binary("==", A, B), negated=False), "(data.a == instance.b) is none"),
        (binary("not in", KeyExpr(), A), "key not in data.a"),
        (
            binary("==", MachineIdExpr(), LiteralExpr('say "hi"\n')),
            'machine_id == "say \\"hi\\"\\n"',
        ),
        (binary("-", A, LiteralExpr(-1)), "data.a - -1"),
        (binary("<", A, LiteralExpr(Decimal("0.0000001"))), "data.a < 0.0000001"),
        (binary("or", LiteralExpr(True), LiteralExpr(None)), "true or none"),
    ],
)
def test_minimal_parentheses(expr: ExprModel, text: str) -> None:
    assert expr_text(expr) == text


@pytest.mark.parametrize(
    ("written", "printed"),
    [
        ("(data.n + 1) - 2 > 0", "data.n + 1 - 2 > 0"),
        ("data.n + (1 - 2) > 0", "data.n + (1 - 2) > 0"),
        ("(not (data.ok)) and (data.n == 1)", "not data.ok and data.n == 1"),
        (
            'data.s == none or (data.s != "" and data.ok)',
            'data.s is none or data.s != "" and data.ok',
        ),
    ],
)
def test_a_checked_guard_prints_back_canonically(written: str, printed: str) -> None:
    text = machine_process(
        f"""        states A, Done
        initial A
        final Done
        transition go: A -> Done on Go when {written}""",
        declarations="    data { n: int = 0  ok: bool = false  s: str | None }",
    )
    model = analyze_text(text).model
    assert model is not None
    guard = model.machine("M").transitions[0].guard
    assert guard is not None and expr_text(guard) == printed


def test_a_very_deep_expression_prints_without_recursion() -> None:
    expr: ExprModel = A
    for _ in range(5000):
        expr = binary("+", expr, B)
    assert expr_text(expr) == "data.a" + " + instance.b" * 5000
