"""The features as pure functions of one analysed document (the server only transports them)."""

from __future__ import annotations

import re

import pytest
from lsprotocol.types import MarkupContent, Position

from pmc.lsp.features import RenameRefused, analyse, completion, formatting, hover, rename
from tests.lsp.conftest import SHOP, find

URI = "file:///shop.pm"


def at(needle: str, occurrence: int = 1) -> Position:
    line, character = find(SHOP, needle, occurrence)
    return Position(line=line, character=character)


def test_renaming_an_event_renames_every_trigger_and_warns_with_the_breaking_rule() -> None:
    analysis = analyse("shop.pm", SHOP)

    renaming = rename(analysis, URI, at("Paid {"), "PaymentTaken")

    assert renaming.edit.changes is not None
    edits = renaming.edit.changes[URI]
    assert [(e.range.start.line, e.new_text) for e in edits] == [
        (at("Paid {").line, "PaymentTaken"),
        (at("on Paid").line, "PaymentTaken"),
    ]
    assert "EVENT_NO_DELETE" in renaming.warning


def test_renaming_a_transition_warns_with_its_rule() -> None:
    renaming = rename(analyse("shop.pm", SHOP), URI, at("pay:"), "take_payment")

    assert "TRANSITION_NO_DELETE" in renaming.warning


def test_renaming_to_what_is_not_a_name_is_refused() -> None:
    with pytest.raises(RenameRefused, match="'2fast' is not a name"):
        rename(analyse("shop.pm", SHOP), URI, at("Done"), "2fast")


@pytest.mark.parametrize(
    ("new_name", "why"),
    [
        ("str", "PM0701 event name `str` shadows a Python builtin"),
        ("Decimal", "PM0701 event name `Decimal` collides with the generated module"),
        ("None", "PM0105 invalid event name `None`"),
    ],
)
def test_renaming_an_event_to_a_type_s_name_is_refused_as_pmc_check_would(
    new_name: str, why: str
) -> None:
    refusal = f"renaming event Paid to {new_name} would not check: {why}"
    with pytest.raises(RenameRefused, match=re.escape(refusal)):
        rename(analyse("shop.pm", SHOP), URI, at("Paid {"), new_name)


def test_renaming_a_data_field_is_refused() -> None:
    with pytest.raises(RenameRefused, match="not a data"):
        rename(analyse("shop.pm", SHOP), URI, at("paid:"), "settled")


def test_a_formatted_file_needs_no_edit() -> None:
    assert formatting(analyse("shop.pm", SHOP)) == []


def test_hover_on_a_blank_shows_nothing() -> None:
    assert hover(analyse("shop.pm", SHOP), Position(line=3, character=0)) is None


def test_renaming_to_a_name_already_taken_is_refused() -> None:
    with pytest.raises(RenameRefused, match=r"state Paying already exists \(line 29\)"):
        rename(analyse("shop.pm", SHOP), URI, at("Done"), "Paying")


def test_renaming_to_a_keyword_is_refused() -> None:
    with pytest.raises(RenameRefused, match="'final' is a keyword"):
        rename(analyse("shop.pm", SHOP), URI, at("Done"), "final")


def test_hover_explains_a_syntax_error_though_nothing_else_answers() -> None:
    broken = SHOP.replace("initial New", "initial")
    analysis = analyse("shop.pm", broken)
    (error,) = analysis.diagnostics
    where = Position(line=error.span.line - 1, character=error.span.column - 1)

    shown = hover(analysis, where)

    assert analysis.index is None
    assert shown is not None and isinstance(shown.contents, MarkupContent)
    assert shown.contents.value.startswith("## PM0001: syntax error")


@pytest.mark.parametrize("taken", ["Ship", "Order"], ids=["a task", "a machine"])
def test_renaming_an_event_to_a_name_the_process_already_declares_is_refused(taken: str) -> None:
    # Events, tasks, signals and machines share the process's names: the edit
    # would leave the file with PM0101 (declared more than once).
    line, character = find(SHOP, "Paid {")

    with pytest.raises(RenameRefused):
        rename(analyse("shop.pm", SHOP), URI, Position(line=line, character=character), taken)


def completed_at(text: str, position: Position) -> list[str]:
    # While the line being typed does not parse, the server completes with the
    # names of the last text that parsed (the server's `Documents.last_index`).
    last_parsed = analyse("shop.pm", SHOP).index
    positions = analyse("shop.pm", text).positions
    return [item.label for item in completion(positions, position, last_parsed)]


def test_completion_past_the_end_of_a_line_is_completion_at_its_end() -> None:
    # LSP: "If the character value is greater than the line length it defaults
    # back to the line length." Past the end, the server reads the lines below.
    typing = SHOP.replace(
        "        transition lost:", "        transition late: Paying -> \n        transition lost:"
    )
    line, _ = find(typing, "transition late")
    end = len(typing.splitlines()[line])

    at_end = completed_at(typing, Position(line=line, character=end))
    past_end = completed_at(typing, Position(line=line, character=end + 40))

    assert at_end == ["New", "Paying", "Shipping", "Done"]
    assert past_end == at_end
