"""After a syntax error the parser looks for more, without inventing any.

It blanks the statement holding the error and parses again; see
:mod:`pmc.syntax.recovery` for why each limit is there.
"""

from __future__ import annotations

from pmc.source import SourceFile
from pmc.syntax.parser import MAX_SYNTAX_ERRORS, parse
from pmc.syntax.recovery import blank_statement, brackets_balance
from tests.syntax.reference import REFERENCE as EXAMPLE


def errors(text: str) -> list[tuple[int, str]]:
    result = parse(SourceFile("example.pm", text))
    assert result.module is None
    return [(d.span.line, d.message) for d in result.diagnostics]


def with_mistakes(*edits: tuple[str, str]) -> str:
    text = EXAMPLE
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_independent_mistakes_are_all_reported_in_order() -> None:
    text = with_mistakes(
        ("reason: str\n        retry", "reason = str\n        retry"),
        ("timeout 30s", "timeout 30"),
        ("transition closed:", "transition closed"),
        ("fail when any", "fail whne any"),
    )
    assert errors(text) == [
        (13, "`=` is not how fields are typed: write `name: type`"),
        (15, "a duration needs a unit: `30s`, `500ms`, `5m`, `2h`, `1d`"),
        (25, "expected `:` after the transition name `closed`"),
        (31, "misspelled keyword `whne`; did you mean `when`?"),
    ]


def test_a_mistake_on_the_next_line_is_left_for_the_next_run() -> None:
    # It might be the broken statement's tail read as a new statement.
    text = with_mistakes(
        ("rebase_id: str\n        instances:", "rebase_id = str\n        instances:"),
        ("instances: list[str]", "instances list[str]"),
    )
    assert errors(text) == [(7, "`=` is not how fields are typed: write `name: type`")]


def test_nothing_more_is_looked_for_when_a_bracket_is_missing() -> None:
    # Without the event's `{`, its `}` would close the process and every
    # later declaration would be reported as outside it.
    text = with_mistakes(
        ("event RebaseFailed {", "event RebaseFailed"),
        ("timeout 30s", "timeout 30"),
    )
    assert errors(text) == [(6, "expected `{` after the event name `RebaseFailed`")]


def test_the_end_of_the_file_stops_the_search() -> None:
    text = with_mistakes(("transition close:", "transition close"))
    text = text[: text.index("    complete when")]
    assert [line for line, _ in errors(text)] == [23]


def test_the_number_of_errors_is_bounded() -> None:
    transitions = "".join(
        f"        transition broken{i} A -> B on Go\n        transition fine{i}: A -> B on Go\n"
        for i in range(3 * MAX_SYNTAX_ERRORS)
    )
    text = (
        "process P {\n    key id\n    event Go { id: str }\n    machine M {\n"
        "        states A, B\n        initial A\n        final B\n"
        f"{transitions}    }}\n}}\n"
    )
    assert [line for line, _ in errors(text)] == list(range(8, 8 + 2 * MAX_SYNTAX_ERRORS, 2))


def test_blanking_keeps_every_position() -> None:
    text = with_mistakes(("transition close:", "transition close"))
    blanked = blank_statement(text, 23)
    assert blanked is not None
    assert len(blanked.text) == len(text)
    assert blanked.text.count("\n") == text.count("\n")
    # The transition and its `run` line go; the next transition stays.
    assert blanked.last_line == 24
    lines = blanked.text.split("\n")
    assert lines[22:24] == [" " * len(line) for line in text.split("\n")[22:24]]
    assert lines[24].strip().startswith("transition closed:")


def test_a_statement_with_unbalanced_brackets_is_not_blanked() -> None:
    text = "process P {\n    event E { a = str\n    }\n}\n"
    assert blank_statement(text, 2) is None


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    assert brackets_balance('a: str = "{(" # ]\n')
    assert not brackets_balance("run T(a = key")
    assert not brackets_balance(") (")
