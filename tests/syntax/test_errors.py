"""Syntax errors in plain words, with the caret where the mistake is.

Each case makes one common mistake in the reference example
(:data:`tests.syntax.reference.REFERENCE`) and shows the one error it gets: its code,
its message, and the offending line with the caret under it. A caret points
*after the last good token* when something is missing, and *at the bad
token* when something is wrong.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile, Span
from pmc.syntax.parser import parse
from tests.syntax.helpers import leaked_lark_words
from tests.syntax.reference import REFERENCE

EXAMPLE = REFERENCE


def mistake(old: str, new: str) -> str:
    """The reference example with ``old`` (which must occur once) replaced by ``new``."""
    assert EXAMPLE.count(old) == 1, old
    return EXAMPLE.replace(old, new)


def only_error(text: str) -> Diagnostic:
    result = parse(SourceFile("example.pm", text))
    assert result.module is None
    [diagnostic] = result.diagnostics
    return diagnostic


def pointed(text: str, span: Span) -> str:
    """The line ``span`` starts on, unindented, with ``^`` under the span."""
    line = text.split("\n")[span.line - 1]
    indent = len(line) - len(line.lstrip())
    width = span.end_column - span.column if span.end_line == span.line else 1
    caret = " " * (span.column - 1 - indent) + "^" * max(width, 1)
    return f"{line.strip()}\n{caret}"


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    code: str
    message: str
    pointer: str  # the line and the caret, as `pointed` draws them

    def __str__(self) -> str:
        return self.id


def case(id: str, text: str, code: str, message: str, pointer: str) -> Case:
    return Case(id, text, code, message, textwrap.dedent(pointer).strip("\n"))


CASES = [
    case(
        "colon_after_transition_name",
        mistake("transition close:", "transition close"),
        "PM0001",
        "expected `:` after the transition name `close`",
        """
        transition close Working -> Closing on RebaseFailed.instances
                        ^
        """,
    ),
    case(
        "equals_after_transition_name",
        mistake("transition close:", "transition close ="),
        "PM0001",
        "expected `:` after the transition name `close`",
        """
        transition close = Working -> Closing on RebaseFailed.instances
                        ^
        """,
    ),
    case(
        "arrow_between_states",
        mistake("Working -> Closing", "Working Closing"),
        "PM0001",
        "expected `->` between the source states and the target state",
        """
        transition close: Working Closing on RebaseFailed.instances
                                 ^
        """,
    ),
    case(
        "fat_arrow",
        mistake("Working -> Closing", "Working => Closing"),
        "PM0001",
        "expected `->` between the source states and the target state",
        """
        transition close: Working => Closing on RebaseFailed.instances
                                  ^
        """,
    ),
    case(
        "equals_instead_of_colon",
        mistake("reason: str\n        retry", "reason = str\n        retry"),
        "PM0001",
        "`=` is not how fields are typed: write `name: type`",
        """
        reason = str
               ^
        """,
    ),
    case(
        "colon_after_field_name",
        mistake("rebase_id: str", "rebase_id str"),
        "PM0001",
        "expected `:` after the field name `rebase_id`",
        """
        rebase_id str
                 ^
        """,
    ),
    case(
        "misspelled_keyword",
        mistake("transition closed:", "trnasition closed:"),
        "PM0001",
        "misspelled keyword `trnasition`; did you mean `transition`?",
        """
        trnasition closed: Closing -> Closed on CloseInstance completed
        ^^^^^^^^^^
        """,
    ),
    case(
        "misspelled_declaration",
        mistake("task CloseInstance", "tsak CloseInstance"),
        "PM0001",
        "misspelled keyword `tsak`; did you mean `task`?",
        """
        tsak CloseInstance async {
        ^^^^
        """,
    ),
    case(
        "misspelled_keyword_where_a_field_may_start",
        mistake("retry 3", "retyr 3"),
        "PM0001",
        "misspelled keyword `retyr`; did you mean `retry`?",
        """
        retyr 3 backoff 2s max 1m
        ^^^^^
        """,
    ),
    case(
        "misspelled_outcome",
        mistake("CloseInstance completed", "CloseInstance complted"),
        "PM0001",
        "misspelled keyword `complted`; did you mean `completed`?",
        """
        transition closed: Closing -> Closed on CloseInstance complted
                                                              ^^^^^^^^
        """,
    ),
    case(
        "commas_between_fields",
        mistake("rebase_id: str\n", "rebase_id: str,\n"),
        "PM0001",
        "fields are separated by newlines or `;`, not `,`",
        """
        rebase_id: str,
                      ^
        """,
    ),
    case(
        "reserved_word_as_field_name",
        mistake("reason: str\n        retry", "timeout: str\n        retry"),
        "PM0001",
        "`timeout` is a reserved word here and cannot be used as a field name",
        """
        timeout: str
        ^^^^^^^
        """,
    ),
    case(
        "missing_on",
        mistake("Closing -> Closed on", "Closing -> Closed"),
        "PM0001",
        "missing `on` before the trigger",
        """
        transition closed: Closing -> Closed CloseInstance completed
                                            ^
        """,
    ),
    case(
        "missing_source_state",
        mistake("give_up: Closing ->", "give_up: ->"),
        "PM0001",
        "expected a state name or `*`",
        """
        transition give_up: -> Failed on CloseInstance failed
                           ^
        """,
    ),
    case(
        "missing_target_state",
        mistake("Closing -> Failed on", "Closing -> on"),
        "PM0001",
        "expected the target state after `->`",
        """
        transition give_up: Closing -> on CloseInstance failed
                                      ^
        """,
    ),
    case(
        "missing_trigger",
        mistake("on CloseInstance failed", "on"),
        "PM0001",
        "expected a trigger after `on`",
        """
        transition give_up: Closing -> Failed on
                                                ^
        """,
    ),
    case(
        "duration_without_unit",
        mistake("timeout 30s", "timeout 30"),
        "PM0006",
        "a duration needs a unit: `30s`, `500ms`, `5m`, `2h`, `1d`",
        """
        timeout 30
                ^^
        """,
    ),
    case(
        "duration_with_unknown_unit",
        mistake("timeout 30s", "timeout 30sec"),
        "PM0006",
        "unknown duration unit `sec` in `30sec`",
        """
        timeout 30sec
                ^^^^^
        """,
    ),
    case(
        "negative_duration",
        mistake("timeout 30s", "timeout -5s"),
        "PM0006",
        "a duration cannot be negative: `-5s`",
        """
        timeout -5s
                ^^^
        """,
    ),
    case(
        "negative_duration_without_unit",
        mistake("backoff 2s", "backoff -2"),
        "PM0006",
        "a duration cannot be negative: `-2`",
        """
        retry 3 backoff -2 max 1m
                        ^^
        """,
    ),
    case(
        "compound_duration",
        mistake("max 1m", "max 1h30m"),
        "PM0006",
        "a duration has one number and one unit, not `1h30m`",
        """
        retry 3 backoff 2s max 1h30m
                               ^^^^^
        """,
    ),
    case(
        "fractional_duration",
        mistake("timeout 30s", "timeout 0.5m"),
        "PM0006",
        "a duration is a whole number with a unit: `30s`, `500ms`, `5m`, `2h`, `1d`",
        """
        timeout 0.5m
                ^^^
        """,
    ),
    case(
        "retry_with_a_duration",
        mistake("retry 3 backoff", "retry 3s backoff"),
        "PM0001",
        "`retry` takes a number of retries, not a duration",
        """
        retry 3s backoff 2s max 1m
              ^^
        """,
    ),
    case(
        "missing_process_name",
        mistake("process RebaseCleanup {", "process {"),
        "PM0001",
        "missing process name after `process`",
        """
        process {
               ^
        """,
    ),
    case(
        "missing_process_keyword",
        mistake("process RebaseCleanup {", "RebaseCleanup {"),
        "PM0001",
        "expected `process` at the start of the file, found `RebaseCleanup`",
        """
        RebaseCleanup {
        ^^^^^^^^^^^^^
        """,
    ),
    case(
        "missing_brace_after_name",
        mistake("event RebaseFailed {", "event RebaseFailed"),
        "PM0001",
        "expected `{` after the event name `RebaseFailed`",
        """
        event RebaseFailed
                          ^
        """,
    ),
    case(
        "run_argument_without_equals",
        mistake("reason = event.reason", "reason event.reason"),
        "PM0001",
        "expected `=` after `reason` in the arguments of `run CloseInstance`",
        """
        run CloseInstance(reason event.reason)
                                ^
        """,
    ),
    case(
        "run_arguments_not_closed",
        mistake("(reason = event.reason)", "(reason = event.reason"),
        "PM0001",
        "expected `)` to close the arguments of `run CloseInstance` before `transition`",
        """
        run CloseInstance(reason = event.reason
                                               ^
        """,
    ),
    case(
        "machine_not_closed_before_next_declaration",
        mistake("on CloseInstance failed\n    }", "on CloseInstance failed\n"),
        "PM0001",
        "expected `}` to close machine `Instance` before `complete`",
        """
        transition give_up: Closing -> Failed on CloseInstance failed
                                                                     ^
        """,
    ),
    case(
        "unclosed_type_argument",
        mistake("list[str]", "list[str"),
        "PM0001",
        "expected `]` to close type `list` before `reason`",
        """
        instances: list[str
                           ^
        """,
    ),
    case(
        "extra_closing_brace",
        mistake("fail when", "}\n    fail when"),
        "PM0001",
        "unexpected `fail` after the end of the process",
        """
        fail when any Instance in Failed
        ^^^^
        """,
    ),
    case(
        "brace_after_the_process",
        EXAMPLE + "}\n",
        "PM0001",
        "unexpected `}`: the process is already closed",
        """
        }
        ^
        """,
    ),
    case(
        "second_process",
        EXAMPLE + "process Another {}\n",
        "PM0001",
        "a `.pm` file holds one process; found a second `process`",
        """
        process Another {}
        ^^^^^^^
        """,
    ),
    case(
        "unterminated_string",
        mistake('"rebase failed"', '"rebase failed'),
        "PM0004",
        "unterminated string",
        """
        reason: str = "rebase failed
                      ^^^^^^^^^^^^^^
        """,
    ),
    case(
        "unknown_escape",
        mistake('"rebase failed"', '"rebase\\qfailed"'),
        "PM0004",
        "unknown escape sequence `\\q` in string",
        """
        reason: str = "rebase\\qfailed"
                             ^^
        """,
    ),
    case(
        "non_ascii_name",
        mistake("instances: list", "instänces: list"),
        "PM0003",
        "unexpected character `ä`: names use ASCII letters, digits and `_`",
        """
        instänces: list[str]
            ^
        """,
    ),
    case(
        "stray_character",
        mistake("key rebase_id", "key rebase_id @"),
        "PM0003",
        "unexpected character `@` after `rebase_id`; expected `;`, `cancel`, `complete`, "
        "`data`, `event`, `fail`, `key`, `machine`, `signal`, `start`, `task` or `}`",
        """
        key rebase_id @
                      ^
        """,
    ),
    case(
        "invisible_character",
        mistake("key rebase_id", "key\u00a0rebase_id"),
        "PM0003",
        "unexpected character `U+00A0` (no-break space) after `key`; expected a name",
        """
        key\u00a0rebase_id
           ^
        """,
    ),
    case(
        "integer_too_large",
        mistake("retry 3", "retry 99999999999999999999"),
        "PM0006",
        "integer `99999999999999999999` is out of range",
        """
        retry 99999999999999999999 backoff 2s max 1m
              ^^^^^^^^^^^^^^^^^^^^
        """,
    ),
    case(
        "duration_too_long",
        mistake("max 1m", "max 40000d"),
        "PM0006",
        "duration `40000d` is too long",
        """
        retry 3 backoff 2s max 40000d
                               ^^^^^^
        """,
    ),
    case(
        "generic_unexpected_token",
        mistake("complete when all", "complete all"),
        "PM0001",
        "unexpected `all` after `complete`; expected `when`",
        """
        complete all Instance final
                 ^^^
        """,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_common_mistake_gets_a_tailored_error(case: Case) -> None:
    error = only_error(case.text)
    assert (error.id, error.message) == (case.code, case.message)
    assert pointed(case.text, error.span) == case.pointer


@pytest.mark.parametrize("case", CASES, ids=str)
def test_messages_never_show_lark_internals(case: Case) -> None:
    error = only_error(case.text)
    shown = [error.message, error.label, error.help or ""]
    shown += [label.message for label in error.labels]
    assert [leaked_lark_words(text) for text in shown] == [[]] * len(shown)


def test_leaked_lark_words_are_found() -> None:
    assert leaked_lark_words("expected COLON or __ANON_0, not $END") == [
        "$END",
        "COLON",
        "__ANON_0",
    ]
    assert leaked_lark_words("expected `:` or a name") == []


def test_unclosed_brace_at_the_end_points_back_at_the_opening_brace() -> None:
    text = mistake("on CloseInstance failed\n    }", "on CloseInstance failed\n")
    text = text[: text.index("    complete when")]
    error = only_error(text)
    assert (error.id, error.message) == (
        "PM0002",
        "unclosed `{` of machine `Instance` opened at line 18",
    )
    [opened] = error.labels
    assert pointed(text, opened.span) == "machine Instance {\n                 ^"
    assert opened.message == "opened here"


def test_end_of_file_inside_a_transition_says_what_is_missing() -> None:
    text = EXAMPLE[: EXAMPLE.index(" on CloseInstance completed")]
    error = only_error(text)
    assert (error.id, error.message) == ("PM0002", "unexpected end of file; expected `on`")
    assert pointed(text, error.span) == (
        "transition closed: Closing -> Closed\n                                    ^"
    )
    assert [label.message for label in error.labels] == ["machine `Instance` starts here"]


def test_an_extra_brace_shows_where_the_process_ended() -> None:
    text = EXAMPLE + "}\n"
    [ended] = only_error(text).labels
    assert ended.message == "process `RebaseCleanup` ends here"
    assert ended.span.line == EXAMPLE.count("\n")


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_an_empty_file_asks_for_a_process(text: str) -> None:
    error = only_error(text)
    assert (error.id, error.message) == (
        "PM0002",
        "the file is empty; expected `process Name { ... }`",
    )


def test_declarations_without_a_process_are_told_to_wrap_them() -> None:
    error = only_error("event E { id: str }\n")
    assert error.message == "expected `process` at the start of the file, found `event`"
    assert error.help == "wrap the declarations in `process Name { ... }`"


def test_a_duration_written_with_a_space_gets_the_fix() -> None:
    error = only_error(mistake("timeout 30s", "timeout 30 s"))
    assert error.help == "write `30s`, without a space"


def test_a_field_named_like_a_retry_option_is_told_how_to_stay_a_field() -> None:
    text = mistake("retry 3 backoff 2s max 1m\n", "retry 3 backoff 2s\n        max: int\n")
    error = only_error(text)
    assert error.message == "`max` is a reserved word here and cannot be used as a field name"
    assert error.help == "end the `retry` clause with `;`, or declare `max` before it"
    fixed = text.replace("backoff 2s\n", "backoff 2s;\n")
    assert parse(SourceFile("example.pm", fixed)).diagnostics == ()


def test_keywords_stay_usable_as_names_where_no_keyword_fits() -> None:
    text = mistake("reason: str\n        retry", "key: str\n        retry")
    text = text.replace("instances: list[str]", "retry: list[str]")
    result = parse(SourceFile("example.pm", text))
    assert result.diagnostics == ()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('reason: str = "rebase failed"', 'reason: str = "rebase\x00failed"'),
        ("run CloseInstance(reason = event.reason)", 'run CloseInstance(reason = "a\x00")'),
    ],
    ids=["default", "binding"],
)
def test_a_nul_in_a_string_is_rejected(old: str, new: str) -> None:
    """The stores refuse NUL in text: every event with such a value would fail in `handle`."""
    error = only_error(mistake(old, new))
    assert (error.id, error.message) == ("PM0004", "a string cannot hold a NUL character")
    line = mistake(old, new).split("\n")[error.span.line - 1]
    assert line[error.span.column - 1] == "\x00"
    assert error.span.end_column == error.span.column + 1
