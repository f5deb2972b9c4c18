"""Completion: the slot read from the words before the cursor, the names from the index."""

from __future__ import annotations

import pytest

from pmc.lsp.completion import candidates, keywords
from pmc.lsp.index import SymbolIndex
from tests.lsp.conftest import SHOP
from tests.lsp.test_index import example, index_of

INVOICE = "process Dunning {\n    machine Invoice {\n"
REGION = "process RegionRollout {\n    machine Region {\n"


@pytest.fixture(scope="module")
def dunning() -> SymbolIndex:
    return example("dunning.pm")


def labels(text_before: str, index: SymbolIndex | None) -> list[str]:
    return [c.label for c in candidates(text_before, index)]


def test_after_an_arrow_the_states_of_the_enclosing_machine(dunning: SymbolIndex) -> None:
    in_transfers = "process Dunning {\n    machine Transfers {\n        transition t: Open -> "

    assert labels(in_transfers, dunning) == ["Open", "Settled"]


def test_the_word_being_typed_is_completed_in_its_slot(dunning: SymbolIndex) -> None:
    assert labels(f"{INVOICE}        transition t: Open -> Pa", dunning) == [
        "Open",
        "Charging",
        "Waiting",
        "Paid",
        "Declined",
        "Lapsed",
    ]


@pytest.mark.parametrize(
    "sources",
    [
        "transition t: ",
        "transition t: Open, ",
        "transition t: *, ",
        "transition t: Open, Charging, Waiting, Paid, Declined, Lapsed, Open, Charging, ",
    ],
    ids=["first", "after a comma", "after a wildcard", "a long list"],
)
def test_in_a_transitions_sources_the_states(dunning: SymbolIndex, sources: str) -> None:
    assert labels(INVOICE + sources, dunning)[:2] == ["Open", "Charging"]


@pytest.mark.parametrize(
    "condition", ["fail when any Invoice in ", "complete when all Invoice in Paid, "]
)
def test_in_a_condition_the_states_of_its_machine(dunning: SymbolIndex, condition: str) -> None:
    text = "process Dunning {\n    machine Transfers {\n    }\n    " + condition

    assert labels(text, dunning)[:2] == ["Open", "Charging"]


def test_after_on_in_a_transition_events_signals_and_tasks() -> None:
    index = example("region_rollout.pm")

    found = labels(f"{REGION}        transition t: Waiting -> Live on ", index)

    events, signals, tasks = (
        ["RolloutStarted"],
        ["CanaryPassed", "RollBack"],
        ["Deploy", "Probe", "Rollback"],
    )
    assert found == events + signals + tasks


def test_after_start_on_only_events(dunning: SymbolIndex) -> None:
    assert labels("process Dunning {\n    start on ", dunning) == [
        "InvoiceOverdue",
        "CardUpdated",
        "PaymentReceived",
    ]


def test_after_run_and_keep_tasks_and_after_emit_signals() -> None:
    index = example("region_rollout.pm")

    assert "Deploy" in labels(f"{REGION}        transition t: A -> B on X\n run ", index)
    assert "Deploy" in labels(f"{REGION}        transition t: A -> B on X\n keep ", index)
    assert labels(f"{REGION}        transition t: A -> B on X\n emit ", index) == [
        "CanaryPassed",
        "RollBack",
    ]


def test_after_event_dot_the_fields_of_the_trigger_with_their_types(dunning: SymbolIndex) -> None:
    charged = f"{INVOICE}        transition charged: Charging -> Paid on ChargeCard completed\n"
    declined = f"{INVOICE}        transition declined: Charging -> Waiting on ChargeCard failed\n"

    results = candidates(f"{charged}            set data.paid = event.", dunning)
    failure = candidates(f"{declined}            when event.", dunning)

    assert [(c.label, c.detail) for c in results] == [("charge_id", "str"), ("amount", "Decimal")]
    assert [(c.label, c.detail) for c in failure] == [("reason", "str")]


def test_after_data_dot_and_instance_dot_the_records_fields() -> None:
    index = example("region_rollout.pm")

    instance = labels(f"{REGION}        transition t: A -> B on X\n when instance.", index)
    data = labels(f"{REGION}        transition t: A -> B on X\n when data.", index)

    assert "healthy" in instance and "healthy" not in data
    assert "healthy_probes" in data and "healthy_probes" not in instance


def test_an_arrow_in_a_comment_or_a_string_is_no_slot() -> None:
    index = index_of(SHOP)

    assert labels("process Shop {\n    # a ->\n    ", index) == list(keywords())
    assert labels('process Shop {\n    x = "->" ', index) == list(keywords())


def test_nothing_is_offered_inside_a_comment_or_a_string() -> None:
    index = index_of(SHOP)

    assert labels("process Shop {\n    # a -> ", index) == []
    assert labels('process Shop {\n    note: str = "a -> ', index) == []


def test_without_an_index_only_keywords() -> None:
    assert labels("process Shop {\n    machine M {\n        transition t: A -> ", None) == list(
        keywords()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"{INVOICE}        final Paid, ",
            ["Open", "Charging", "Waiting", "Paid", "Declined", "Lapsed"],
        ),
        (
            "process Dunning {\n    cancel on InvoiceOverdue, ",
            ["InvoiceOverdue", "CardUpdated", "PaymentReceived"],
        ),
        (f"{INVOICE}        transition t: A -> B on X\n keep ChargeCard, ", ["ChargeCard"]),
    ],
    ids=["final", "cancel on", "keep"],
)
def test_after_a_comma_the_list_goes_on(
    dunning: SymbolIndex, text: str, expected: list[str]
) -> None:
    assert labels(text, dunning) == expected


def test_after_a_trigger_and_a_space_no_name_slot(dunning: SymbolIndex) -> None:
    assert labels(
        f"{INVOICE}        transition t: Open -> Paid on InvoiceOverdue ", dunning
    ) == list(keywords())


def test_after_an_event_name_and_a_dot_its_fields_for_a_selector(dunning: SymbolIndex) -> None:
    text = f"{INVOICE}        transition t: Open -> Paid on PaymentReceived."

    assert [(c.label, c.detail) for c in candidates(text, dunning)] == [
        ("subscription_id", "str"),
        ("invoice_id", "str"),
        ("amount", "Decimal"),
    ]
