"""The symbol index: which declaration every name of a file means, by the language's scoping."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmc.compiler import check_source
from pmc.lsp.index import Kind, SymbolId, SymbolIndex, build_index
from pmc.source import SourceFile
from tests.lsp.conftest import SHOP

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.pm"))


def index_of(text: str) -> SymbolIndex:
    source = SourceFile("x.pm", text)
    module = check_source(source).module
    assert module is not None
    return build_index(module, source)


def example(name: str) -> SymbolIndex:
    return index_of((EXAMPLES[0].parent / name).read_text(encoding="utf-8"))


def position_of(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """The 1-based (line, column) of the ``occurrence``-th ``needle``."""
    offset = -1
    for _ in range(occurrence):
        offset = text.index(needle, offset + 1)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_name_of_an_example_resolves_to_its_declaration(path: Path) -> None:
    index = index_of(path.read_text(encoding="utf-8"))

    # `event.reason` on a `failed` outcome is the one field declared nowhere.
    unresolved = {o.symbol for o in index.occurrences if o.symbol not in index.symbols} - {
        SymbolId(Kind.FIELD, "", "reason")
    }

    assert unresolved == set()


def test_states_belong_to_their_machine() -> None:
    index = example("dunning.pm")

    invoice_open = index.references(SymbolId(Kind.STATE, "Invoice", "Open"))
    transfers_open = index.references(SymbolId(Kind.STATE, "Transfers", "Open"))

    # Declared, initial, and the source of `charge`; `Transfers` has its own.
    assert len(invoice_open) == 3
    assert len(transfers_open) == 5
    assert not set(invoice_open) & set(transfers_open)


def symbol_at(text: str, needle: str) -> SymbolId | None:
    """What the name at the first ``needle`` of ``text`` means."""
    found = index_of(text).at(*position_of(text, needle))
    return found.symbol if found is not None else None


def test_event_fields_are_the_fields_of_the_transitions_trigger() -> None:
    # `place` is triggered by `OrderPlaced`, `pay` by `Paid`.
    assert symbol_at(SHOP, "note !=") == SymbolId(Kind.FIELD, "OrderPlaced", "note")
    assert symbol_at(SHOP, "amount\n") == SymbolId(Kind.FIELD, "Paid", "amount")


def test_event_fields_after_completed_are_the_tasks_results() -> None:
    index = example("dunning.pm")

    scope = index.trigger_fields[SymbolId(Kind.TRANSITION, "Invoice", "charged")]

    assert scope is not None and (scope.kind, scope.owner) == (Kind.RESULT, "ChargeCard")
    assert [s.id.name for s in index.declared(Kind.RESULT, "ChargeCard")] == [
        "charge_id",
        "amount",
    ]


def test_a_binding_names_a_field_of_the_task_it_runs() -> None:
    assert symbol_at(SHOP, "order_id = key") == SymbolId(Kind.FIELD, "Ship", "order_id")


def test_on_a_signal_names_the_signal_and_its_selector_a_signal_field() -> None:
    text = (EXAMPLES[0].parent / "region_rollout.pm").read_text(encoding="utf-8")
    index = index_of(text)

    line, column = position_of(text, "CanaryPassed.regions", 2)
    signal, selector = index.at(line, column), index.at(line, column + len("CanaryPassed."))

    assert signal is not None and signal.symbol == SymbolId(Kind.SIGNAL, "", "CanaryPassed")
    assert selector is not None
    assert selector.symbol == SymbolId(Kind.FIELD, "CanaryPassed", "regions")


def test_instance_fields_belong_to_their_machine_and_data_fields_to_the_process() -> None:
    text = (EXAMPLES[0].parent / "region_rollout.pm").read_text(encoding="utf-8")

    instance = symbol_at(text, "healthy + 1) >=")
    data = symbol_at(text, "healthy_probes\n")

    assert instance == SymbolId(Kind.INSTANCE, "Region", "healthy")
    assert data == SymbolId(Kind.DATA, "", "healthy_probes")


def test_the_cursor_right_after_a_name_is_on_it_and_a_blank_is_on_nothing() -> None:
    index = index_of(SHOP)
    line, column = position_of(SHOP, "Paying on")

    after = index.at(line, column + len("Paying"))

    assert after is not None and after.symbol.name == "Paying"
    assert index.at(line, column + len("Paying ")) is None


def test_a_declaration_carries_its_signature_and_the_comments_right_above() -> None:
    index = index_of(SHOP)

    paid = index.definition(SymbolId(Kind.EVENT, "", "Paid"))
    order_placed = index.definition(SymbolId(Kind.EVENT, "", "OrderPlaced"))

    assert paid is not None and paid.doc == "Payment for an order,\nin full."
    assert paid.signature == "event Paid {\n    order_id: str\n    amount: Decimal\n}"
    # A blank line parts the file's comment from the first event.
    assert order_placed is not None and order_placed.doc == ""


def test_a_field_knows_its_type_as_written() -> None:
    index = index_of(SHOP)

    note = index.definition(SymbolId(Kind.FIELD, "OrderPlaced", "note"))

    assert note is not None and note.type == "str"
    assert note.signature == 'note: str = "🎁"\n\nfield of event OrderPlaced'


def test_an_unknown_name_is_recorded_without_a_definition() -> None:
    text = SHOP.replace("Shipping -> Done on Ship failed", "Shipping -> Gone on Ship failed")

    gone = symbol_at(text, "Gone")

    assert gone == SymbolId(Kind.STATE, "Order", "Gone")
    assert index_of(text).definition(gone) is None


def test_the_enclosing_machine_and_transition_of_a_line() -> None:
    index = index_of(SHOP)
    line, _ = position_of(SHOP, "run Ship")

    assert index.enclosing(Kind.MACHINE, line) == SymbolId(Kind.MACHINE, "", "Order")
    assert index.enclosing(Kind.TRANSITION, line) == SymbolId(Kind.TRANSITION, "Order", "pay")
    assert index.enclosing(Kind.MACHINE, 1) is None
