"""Tailored syntax errors for the second edition's forms.

Like :mod:`tests.syntax.test_errors`: each case makes one mistake in a
process with data, a signal and a machine (:data:`BASE`), and shows the one
error it gets, with the caret where :func:`tests.syntax.test_errors.pointed`
draws it.
"""

from __future__ import annotations

import textwrap

import pytest

from pmc.source import SourceFile
from pmc.syntax.parser import parse
from tests.syntax.helpers import leaked_lark_words
from tests.syntax.test_errors import Case, case, only_error, pointed

BASE = """\
process Dunning {
    key invoice_id

    data {
        retries: int = 0
        declined: list[str]
    }

    event PaymentFailed {
        invoice_id: str
        code: str
    }

    task Charge {
        invoice_id: str
    }

    signal GiveUp {}

    machine Invoice {
        data {
            probes: int = 0
        }
        states Open, Retrying, Closed
        initial Open
        final Closed

        transition retry: Open -> Retrying on PaymentFailed
            when data.retries < 3
            run Charge(invoice_id = key)
            set data.retries = data.retries + 1
        transition stop: Retrying -> Closed on GiveUp
    }

    complete when all Invoice final
}
"""


def edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


def test_the_base_parses() -> None:
    assert parse(SourceFile("base.pm", BASE)).module is not None


CASES = [
    case(
        "equals_in_a_guard",
        edit("when data.retries < 3", "when data.retries = 3"),
        "PM0001",
        "use `==` to compare, not `=`",
        """
        when data.retries = 3
                          ^
        """,
    ),
    case(
        "equals_in_a_data_condition",
        edit("complete when all Invoice final", "complete when data.retries = 3"),
        "PM0001",
        "use `==` to compare, not `=`",
        """
        complete when data.retries = 3
                                   ^
        """,
    ),
    case(
        "bare_name_in_a_guard",
        edit("when data.retries < 3", "when retries < 3"),
        "PM0001",
        "`retries` alone is not a value: write `data.retries`, `instance.retries` or "
        "`event.retries`",
        """
        when retries < 3
             ^^^^^^^
        """,
    ),
    case(
        "bare_name_in_a_set",
        edit("set data.retries = data.retries + 1", "set data.retries = retries + 1"),
        "PM0001",
        "`retries` alone is not a value: write `data.retries`, `instance.retries` or "
        "`event.retries`",
        """
        set data.retries = retries + 1
                           ^^^^^^^
        """,
    ),
    case(
        "bare_name_in_a_data_condition",
        edit("complete when all Invoice final", "complete when all Invoice final and retries"),
        "PM0001",
        "`retries` alone is not a value: write `data.retries`",
        """
        complete when all Invoice final and retries
                                            ^^^^^^^
        """,
    ),
    case(
        "bare_name_deep_in_a_data_condition",
        edit("complete when all Invoice final", "complete when data.retries > retries"),
        "PM0001",
        "`retries` alone is not a value: write `data.retries`",
        """
        complete when data.retries > retries
                                     ^^^^^^^
        """,
    ),
    case(
        "data_without_braces",
        edit("    data {\n        retries: int = 0\n", "    data\n        retries: int = 0\n"),
        "PM0001",
        "expected `{` after `data`",
        """
        data
            ^
        """,
    ),
    case(
        "set_before_run",
        edit(
            "run Charge(invoice_id = key)\n            set data.retries = data.retries + 1",
            "set data.retries = data.retries + 1\n            run Charge(invoice_id = key)",
        ),
        "PM0001",
        "`set` comes after `run`: the order is when, keep, run, set, emit",
        """
        run Charge(invoice_id = key)
        ^^^
        """,
    ),
    case(
        "run_before_when",
        edit(
            "when data.retries < 3\n            run Charge(invoice_id = key)",
            "run Charge(invoice_id = key)\n            when data.retries < 3",
        ),
        "PM0001",
        "`run` comes after `when`: the order is when, keep, run, set, emit",
        """
        when data.retries < 3
        ^^^^
        """,
    ),
    case(
        "emit_before_set",
        edit(
            "run Charge(invoice_id = key)\n",
            "run Charge(invoice_id = key)\n            emit GiveUp\n",
        ),
        "PM0001",
        "`emit` comes after `set`: the order is when, keep, run, set, emit",
        """
        set data.retries = data.retries + 1
        ^^^
        """,
    ),
    case(
        "two_guards",
        edit("when data.retries < 3", "when data.retries < 3 when data.declined == []"),
        "PM0001",
        "a transition has one `when` clause",
        """
        when data.retries < 3 when data.declined == []
                              ^^^^
        """,
    ),
    case(
        "machine_data_after_states",
        edit("        initial Open", "        data { closed: bool = false }\n        initial Open"),
        "PM0001",
        "a machine's `data` block comes first",
        """
        data { closed: bool = false }
        ^^^^
        """,
    ),
    case(
        "two_machine_data_blocks",
        edit(
            "            probes: int = 0\n        }\n",
            "            probes: int = 0\n        }\n        data { more: int = 0 }\n",
        ),
        "PM0001",
        "a machine has at most one `data` block",
        """
        data { more: int = 0 }
        ^^^^
        """,
    ),
    case(
        # The comment swallows the machine's `{`: the `data` after the name is
        # not a data block out of place (that rule once crashed looking for the `{`).
        "machine_brace_commented_out_before_its_data",
        edit("machine Invoice {", "machine Inv#oice {"),
        "PM0001",
        "expected `{` after the machine name `Inv`",
        """
        machine Inv#oice {
                   ^
        """,
    ),
    case(
        "assignments_without_a_comma",
        edit("set data.retries = data.retries + 1", "set data.retries = 1 data.retries = 2"),
        "PM0001",
        "expected `,` between the assignments of `set`",
        """
        set data.retries = 1 data.retries = 2
                            ^
        """,
    ),
    case(
        "not_before_a_second_operand",
        edit("when data.retries < 3", "when data.retries not data.retries"),
        "PM0001",
        "unexpected `data` after `not`; expected `in`",
        """
        when data.retries not data.retries
                              ^^^^
        """,
    ),
    case(
        "len_without_parentheses",
        edit("when data.retries < 3", "when len data.declined > 3"),
        "PM0001",
        "unexpected `data` after `len`; expected `(`",
        """
        when len data.declined > 3
                 ^^^^
        """,
    ),
    case(
        "angle_brackets_for_not_equal",
        edit("when data.retries < 3", "when data.retries <> 3"),
        "PM0001",
        "use `!=`, not `<>`",
        """
        when data.retries <> 3
                          ^^
        """,
    ),
    case(
        "arrow_for_greater_or_equal",
        edit("when data.retries < 3", "when data.retries => 3"),
        "PM0001",
        "use `>=`, not `=>`",
        """
        when data.retries => 3
                          ^^
        """,
    ),
    case(
        "arrow_for_less_or_equal",
        edit("when data.retries < 3", "when data.retries =< 3"),
        "PM0001",
        "use `<=`, not `=<`",
        """
        when data.retries =< 3
                          ^^
        """,
    ),
    case(
        "python_true",
        edit("when data.retries < 3", "when data.declined == True"),
        "PM0001",
        "`True` is written `true`",
        """
        when data.declined == True
                              ^^^^
        """,
    ),
    case(
        "null_for_none",
        edit("when data.retries < 3", "when data.declined == null"),
        "PM0001",
        "`null` is written `none`",
        """
        when data.declined == null
                              ^^^^
        """,
    ),
    case(
        "data_expression_before_machine_conditions",
        edit(
            "complete when all Invoice final",
            "complete when data.retries > 3 and all Invoice final",
        ),
        "PM0001",
        "the data expression comes after the machine conditions",
        """
        complete when data.retries > 3 and all Invoice final
                                           ^^^
        """,
    ),
    case(
        "fail_data_expression_first",
        edit(
            "complete when all Invoice final", "fail when data.retries > 3 or any Invoice in Open"
        ),
        "PM0001",
        "the data expression comes after the machine conditions",
        """
        fail when data.retries > 3 or any Invoice in Open
                                      ^^^
        """,
    ),
    case(
        "emit_without_a_signal",
        edit(
            "        transition stop: Retrying -> Closed on GiveUp",
            "            emit\n        transition stop: Retrying -> Closed on GiveUp",
        ),
        "PM0001",
        "expected the signal name after `emit`",
        """
        emit
            ^
        """,
    ),
    case(
        "keep_without_a_task",
        edit(
            "            run Charge(invoice_id = key)",
            "            keep\n            run Charge(invoice_id = key)",
        ),
        "PM0001",
        "expected the task name after `keep`",
        """
        keep
            ^
        """,
    ),
    case(
        "chained_comparison",
        edit("when data.retries < 3", "when 0 < data.retries < 3"),
        "PM0001",
        "comparisons do not chain",
        """
        when 0 < data.retries < 3
                              ^
        """,
    ),
    case(
        "comparison_then_in",
        edit("when data.retries < 3", "when data.retries == 0 in data.declined"),
        "PM0001",
        "comparisons do not chain",
        """
        when data.retries == 0 in data.declined
                               ^^
        """,
    ),
    case(
        "emit_arguments_without_a_comma",
        edit(
            "set data.retries = data.retries + 1",
            "set data.retries = data.retries + 1\n            emit Report(a = 1 b = 2)",
        ),
        "PM0001",
        "expected `,` between the arguments of `emit Report` or `)` after them",
        """
        emit Report(a = 1 b = 2)
                          ^
        """,
    ),
    case(
        "signal_without_braces",
        edit("signal GiveUp {}", "signal GiveUp"),
        "PM0001",
        "expected `{` after the signal name `GiveUp`",
        """
        signal GiveUp
                     ^
        """,
    ),
    case(
        "data_field_without_colon",
        edit("retries: int = 0", "retries int = 0"),
        "PM0001",
        "expected `:` after the field name `retries`",
        """
        retries int = 0
               ^
        """,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_common_mistake_gets_a_tailored_error(case: Case) -> None:
    error = only_error(case.text)
    assert (error.id, error.message) == (case.code, case.message)
    assert pointed(case.text, error.span) == textwrap.dedent(case.pointer).strip("\n")
    assert leaked_lark_words(f"{error.message} {error.label} {error.help}") == []


def test_a_bare_name_close_to_a_data_field_gets_a_suggestion() -> None:
    error = only_error(edit("when data.retries < 3", "when probe < 3"))
    assert error.help == "did you mean `instance.probes`?"


def test_a_clause_out_of_order_points_at_the_clause_it_follows() -> None:
    text = edit(
        "run Charge(invoice_id = key)\n            set data.retries = data.retries + 1",
        "set data.retries = data.retries + 1\n            run Charge(invoice_id = key)",
    )
    error = only_error(text)
    [label] = error.labels
    assert label.message == "`set` is here"
    assert pointed(text, label.span).startswith("set data.retries")


def test_several_mistakes_in_expressions_are_all_reported() -> None:
    text = edit("when data.retries < 3", "when retries < 3").replace(
        "complete when all Invoice final", "complete when data.retries = 3"
    )
    result = parse(SourceFile("example.pm", text))
    assert [d.message for d in result.diagnostics] == [
        "`retries` alone is not a value: write `data.retries`, `instance.retries` or "
        "`event.retries`",
        "use `==` to compare, not `=`",
    ]
