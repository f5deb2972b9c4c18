"""The tailored rules, in the order they are tried, and the generic message.

Each rule recognises one common mistake from a :class:`Stuck` and says what to
write instead, or returns None. The first rule that answers wins, so a rule
about a specific mistake comes before a broader one that would also match:
``retry 3s`` is a retry count written as a duration (:func:`retry_count`)
before it is a field ``s`` missing its ``:`` (:func:`missing_colon_after_field`).
When no rule answers, the message is the generic "unexpected X; expected Y".
"""

from __future__ import annotations

from collections.abc import Callable

from pmc.diagnostics import Diagnostic
from pmc.syntax.errors.expected import CHARACTER, END, describe_expected, describe_token
from pmc.syntax.errors.rules.clauses import (
    clause_out_of_order,
    data_expression_first,
    machine_data_not_first,
)
from pmc.syntax.errors.rules.expressions import (
    assignments_without_comma,
    bare_name,
    chained_comparison,
    equals_for_comparison,
    other_languages_constant,
    other_languages_operator,
)
from pmc.syntax.errors.rules.fields import (
    comma_between_fields,
    equals_for_colon,
    missing_colon_after_field,
    reserved_word_as_field,
    retry_count,
    run_arguments,
)
from pmc.syntax.errors.rules.lexical import (
    duration_needs_unit,
    non_ascii_letter,
    unterminated_string,
)
from pmc.syntax.errors.rules.spelling import misspelled_keyword, misspelled_task_keyword
from pmc.syntax.errors.rules.structure import (
    after_the_process,
    empty_file,
    keyword_read_as_clause_name,
    missing_closer,
    missing_declaration_name,
    missing_open_brace,
    missing_process_keyword,
    unclosed_at_end,
)
from pmc.syntax.errors.rules.transitions import (
    expected_source_state,
    expected_target_state,
    missing_arrow,
    missing_colon_after_transition_name,
    missing_on,
    missing_trigger,
)
from pmc.syntax.errors.stuck import Stuck, missing_at, smart_at

Rule = Callable[[Stuck], Diagnostic | None]
RULES: tuple[Rule, ...] = (
    empty_file,
    unterminated_string,
    non_ascii_letter,
    missing_process_keyword,
    after_the_process,
    clause_out_of_order,
    machine_data_not_first,
    data_expression_first,
    keyword_read_as_clause_name,
    other_languages_operator,
    equals_for_comparison,
    chained_comparison,
    other_languages_constant,
    bare_name,
    assignments_without_comma,
    misspelled_keyword,
    misspelled_task_keyword,
    unclosed_at_end,
    reserved_word_as_field,
    equals_for_colon,
    retry_count,
    missing_colon_after_field,
    missing_colon_after_transition_name,
    comma_between_fields,
    missing_declaration_name,
    duration_needs_unit,
    missing_closer,
    run_arguments,
    expected_target_state,
    missing_arrow,
    missing_on,
    expected_source_state,
    missing_trigger,
    missing_open_brace,
)


def describe(stuck: Stuck) -> Diagnostic:
    """The first tailored rule's diagnostic, else the generic one."""
    for rule in RULES:
        diagnostic = rule(stuck)
        if diagnostic is not None:
            return diagnostic
    return generic(stuck)


def generic(stuck: Stuck) -> Diagnostic:
    expected = describe_expected(stuck.accepts)
    if stuck.bad.type == END:
        return Diagnostic(
            "PM0002",
            f"unexpected end of file; expected {expected}",
            missing_at(stuck),
            label=f"expected {expected}",
        )
    code = "PM0003" if stuck.bad.type == CHARACTER else "PM0001"
    after = f" after {describe_token(stuck.previous)}" if stuck.previous is not None else ""
    return Diagnostic(
        code,
        f"unexpected {describe_token(stuck.bad)}{after}; expected {expected}",
        smart_at(stuck),
        label=f"expected {expected}",
    )
