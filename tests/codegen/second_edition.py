"""A second-edition process built by hand as a model, for codegen tests that need no parser.

``DUNNING`` uses every construct of the second edition: process and machine
data (a list field defaulting to empty), guards tried in order, ``set`` on
both records, ``emit``, a signal handled by a single-instance machine and by
a many-instance one through a selector, ``keep``, an ``at`` deadline, a
``*`` transition sharing its trigger with a state's own, and data conditions.
``HOSTILE`` is a string that would break out of any Python string or
docstring: it is a data default, a guard's literal and a data condition's.
"""

from __future__ import annotations

from decimal import Decimal

from pmc.codegen import generate
from pmc.semantics.model import (
    AllFinalCondition,
    AssignmentModel,
    BinaryExpr,
    BinaryOp,
    BindingModel,
    DataFieldExpr,
    DataScope,
    DeadlineTriggerModel,
    EmitModel,
    EventFieldExpr,
    EventModel,
    EventTriggerModel,
    ExprModel,
    FieldModel,
    IsNoneExpr,
    KeyExpr,
    KeyModel,
    ListType,
    LiteralExpr,
    MachineIdExpr,
    MachineModel,
    OptionalType,
    Outcome,
    OutcomeTriggerModel,
    Primitive,
    PrimitiveType,
    ProcessModel,
    RunModel,
    SignalModel,
    SignalTriggerModel,
    TaskMode,
    TaskModel,
    TransitionModel,
    UnaryExpr,
    UnaryOp,
)

STR = PrimitiveType(Primitive.STR)
INT = PrimitiveType(Primitive.INT)
DECIMAL = PrimitiveType(Primitive.DECIMAL)
DATETIME = PrimitiveType(Primitive.DATETIME)

HOSTILE = '"""\n\'\\" ); import os #'


def data(field: str) -> DataFieldExpr:
    return DataFieldExpr(DataScope.DATA, field)


def instance(field: str) -> DataFieldExpr:
    return DataFieldExpr(DataScope.INSTANCE, field)


def binary(op: BinaryOp, left: ExprModel, right: ExprModel) -> BinaryExpr:
    return BinaryExpr(op, left, right)


def lit(value: str | int | Decimal | bool | None) -> LiteralExpr:
    return LiteralExpr(value)


CHARGE_FAILED = OutcomeTriggerModel("ChargeCard", Outcome.FAILED)
PAID = EventTriggerModel("PaymentReceived")

BILLING = MachineModel(
    name="Billing",
    states=("Open", "Charging", "Waiting", "Paid", "Suspended"),
    initial="Open",
    final=("Paid", "Suspended"),
    multi_instance=False,
    data=(FieldModel("attempts", INT, True, 0),),
    transitions=(
        TransitionModel(
            "open",
            ("Open",),
            "Charging",
            EventTriggerModel("InvoiceOpened"),
            RunModel(
                "ChargeCard",
                (
                    BindingModel("invoice_id", KeyExpr(), STR),
                    BindingModel("amount", EventFieldExpr("amount"), DECIMAL),
                ),
            ),
            sets=(
                AssignmentModel(DataScope.DATA, "amount", EventFieldExpr("amount"), DECIMAL),
                AssignmentModel(DataScope.DATA, "due", EventFieldExpr("due"), DATETIME),
            ),
        ),
        TransitionModel(
            "charged",
            ("Charging",),
            "Paid",
            OutcomeTriggerModel("ChargeCard", Outcome.COMPLETED),
            None,
        ),
        TransitionModel(
            "hard_decline",
            ("Charging",),
            "Suspended",
            CHARGE_FAILED,
            None,
            guard=binary(
                BinaryOp.OR,
                binary(BinaryOp.EQ, EventFieldExpr("reason"), lit("hard_decline")),
                binary(BinaryOp.EQ, EventFieldExpr("reason"), lit(HOSTILE)),
            ),
            emits=(
                EmitModel("Abort", (BindingModel("reason", EventFieldExpr("reason"), STR),)),
                EmitModel(
                    "Release",
                    (
                        BindingModel("nodes", data("nodes"), ListType(STR)),
                        # An `int` into a `Decimal` field: converted.
                        BindingModel("weight", binary(BinaryOp.ADD, data("declines"), lit(1)), INT),
                    ),
                ),
            ),
        ),
        TransitionModel(
            "retry_later",
            ("Charging",),
            "Waiting",
            CHARGE_FAILED,
            None,
            guard=binary(BinaryOp.LT, data("declines"), lit(3)),
            sets=(
                AssignmentModel(
                    DataScope.DATA, "declines", binary(BinaryOp.ADD, data("declines"), lit(1)), INT
                ),
                AssignmentModel(
                    DataScope.DATA,
                    "amount",
                    binary(BinaryOp.SUB, data("amount"), lit(Decimal("0.50"))),
                    DECIMAL,
                ),
                AssignmentModel(
                    DataScope.INSTANCE,
                    "attempts",
                    binary(BinaryOp.ADD, instance("attempts"), lit(1)),
                    INT,
                ),
            ),
        ),
        TransitionModel("give_up", ("Charging",), "Suspended", CHARGE_FAILED, None),
        TransitionModel(
            "retry",
            ("Waiting",),
            "Charging",
            DeadlineTriggerModel(DataScope.DATA, "due"),
            RunModel(
                "ChargeCard",
                (
                    BindingModel("invoice_id", KeyExpr(), STR),
                    BindingModel("amount", data("amount"), DECIMAL),
                ),
            ),
        ),
        # ``*`` on PaymentReceived, and Waiting's own fallback on it after it.
        TransitionModel(
            "paid",
            ("Open", "Charging", "Waiting"),
            "Paid",
            PAID,
            None,
            guard=binary(BinaryOp.EQ, EventFieldExpr("paid_invoice"), KeyExpr()),
            keep=("ChargeCard",),
            from_wildcard=True,
        ),
        TransitionModel("paid_other", ("Waiting",), "Waiting", PAID, None),
    ),
)

NODE = MachineModel(
    name="Node",
    states=("Up", "Down"),
    initial="Up",
    final=("Down",),
    multi_instance=True,
    transitions=(
        TransitionModel(
            "release",
            ("Up",),
            "Down",
            SignalTriggerModel("Release", "nodes", fan_out=True),
            None,
            guard=binary(
                BinaryOp.AND,
                UnaryExpr(UnaryOp.NOT, IsNoneExpr(data("due"), negated=False)),
                binary(BinaryOp.IN, MachineIdExpr(), data("nodes")),
            ),
        ),
        TransitionModel("abort", ("Up",), "Down", SignalTriggerModel("Abort"), None),
    ),
)

DUNNING = ProcessModel(
    name="Dunning",
    key=KeyModel("invoice_id", STR),
    events=(
        EventModel(
            "InvoiceOpened",
            (
                FieldModel("invoice_id", STR),
                FieldModel("amount", DECIMAL),
                FieldModel("due", DATETIME),
            ),
        ),
        EventModel(
            "PaymentReceived", (FieldModel("invoice_id", STR), FieldModel("paid_invoice", STR))
        ),
    ),
    tasks=(
        TaskModel(
            "ChargeCard",
            TaskMode.ASYNC,
            (FieldModel("invoice_id", STR), FieldModel("amount", DECIMAL)),
            (FieldModel("receipt", STR),),
            None,
            None,
        ),
    ),
    machines=(BILLING, NODE),
    start_events=("InvoiceOpened",),
    complete_when=(AllFinalCondition("Billing"),),
    fail_when=(),
    cancel_events=(),
    data=(
        FieldModel("declines", INT, True, 0),
        FieldModel("amount", DECIMAL, True, Decimal("0")),
        FieldModel("due", OptionalType(DATETIME), True, None),
        FieldModel("nodes", ListType(STR), True, None),
        FieldModel("note", STR, True, HOSTILE),
    ),
    signals=(
        SignalModel("Abort", (FieldModel("reason", STR),)),
        SignalModel("Release", (FieldModel("nodes", ListType(STR)), FieldModel("weight", DECIMAL))),
    ),
    complete_data=binary(BinaryOp.NE, data("note"), lit(HOSTILE + "!")),
    fail_data=binary(BinaryOp.GE, data("declines"), lit(3)),
)


def dunning_code() -> str:
    return generate(DUNNING, source_name="dunning.pm", program="dunning (built by hand)")
