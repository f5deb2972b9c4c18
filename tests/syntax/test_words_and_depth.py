"""Keywords are whole words, an event may be named `at`, and `not` chains are bounded.

Each case edits the guard or the trigger of one small process (:data:`BASE`).
"""

from __future__ import annotations

import pytest

from pmc.compiler import check_source
from pmc.source import SourceFile
from pmc.syntax import ast
from pmc.syntax.grammar import build_parser
from pmc.syntax.parser import MAX_NESTING, parse

BASE = """\
process P {
    key id
    event Go { id: str }
    machine M {
        data {
            flag: bool = false
            items: list[str]
        }
        states A, B
        initial A
        final B
        transition t: A -> B on Go when data.flag
    }
}
"""


def with_guard(guard: str) -> str:
    return BASE.replace("when data.flag", f"when {guard}")


def messages(text: str) -> list[tuple[str, str]]:
    return [(d.id, d.message) for d in parse(SourceFile("words.pm", text)).diagnostics]


def test_the_grammar_builds_without_conflicts_or_collisions() -> None:
    build_parser(strict=True)


@pytest.mark.parametrize(
    ("guard", "unexpected"),
    [
        ("notdata.flag", "notdata"),
        ("data.flag anddata.flag", "anddata"),
        ("data.flag ordata.flag", "ordata"),
        ("data.flag isnone", "isnone"),
        ("data.flag isnot none", "isnot"),
        ("data.flag notin data.items", "notin"),
        ("data.flag == truex", "truex"),
        ("data.flag == nonesuch", "nonesuch"),
        ("data.flag == falsehood", "falsehood"),
    ],
)
def test_a_keyword_never_matches_the_start_of_a_longer_word(guard: str, unexpected: str) -> None:
    [(code, message)] = messages(with_guard(guard))
    assert code == "PM0001"
    # The whole word is what the message is about, not a keyword cut out of it.
    assert f"`{unexpected}`" in message


@pytest.mark.parametrize(
    ("guard", "meant"),
    [("data.flag isnot none", "is not"), ("data.flag notin data.items", "not in")],
)
def test_two_words_run_together_are_suggested_as_the_pair(guard: str, meant: str) -> None:
    [(_, message)] = messages(with_guard(guard))
    assert message.endswith(f"did you mean `{meant}`?")


@pytest.mark.parametrize(
    "text",
    [
        BASE.replace("on Go when data.flag", "onGo"),
        BASE.replace("initial A", "initialA"),
        BASE.replace("process P", "processP"),
        BASE.replace("    }\n}\n", "    }\n    complete whenall M final\n}\n"),
    ],
    ids=["onGo", "initialA", "processP", "whenall"],
)
def test_a_keyword_glued_to_a_name_is_an_error(text: str) -> None:
    assert [code for code, _ in messages(text)] == ["PM0001"]


@pytest.mark.parametrize(
    "guard", ["not data.flag", "data.flag is not none", "data.flag not in data.items"]
)
def test_keywords_separated_by_spaces_still_parse(guard: str) -> None:
    assert messages(with_guard(guard)) == []


def test_names_that_start_with_a_keyword_are_names() -> None:
    text = BASE.replace("flag", "notice")
    assert messages(text) == []


OLD_EVENT_AT = """\
process P {
    key id
    event at { id: str }
    event Done { id: str }
    machine M {
        states A, B, C
        initial A
        final C
        transition t: A -> B on at
        transition u: B -> C on Done
    }
}
"""


def test_an_old_file_with_an_event_named_at_still_checks() -> None:
    # Valid before `at` deadlines existed: `on at` not followed by `data.` or
    # `instance.` is a trigger on the event `at`.
    result = check_source(SourceFile("at.pm", OLD_EVENT_AT))
    assert result.diagnostics == ()
    assert result.model is not None


OLD_SELECTOR_AT = """\
process P {
    key id
    event at { id: str  ids: list[str] }
    event Go { id: str  ids: list[str] }
    machine M {
        states A, B, C
        initial A
        final C
        transition t: A -> B on at.ids
        transition u: B -> C on Go.ids
    }
}
"""


def test_an_old_file_selecting_instances_by_an_event_named_at_still_checks() -> None:
    # `on at.field`, like `on at`, names the event `at`.
    result = check_source(SourceFile("at.pm", OLD_SELECTOR_AT))
    assert result.diagnostics == ()


def test_an_old_file_with_a_task_named_at_handles_its_outcomes() -> None:
    text = OLD_EVENT_AT.replace(
        "event at { id: str }", "event Go { id: str }\n    task at { n: int }"
    )
    text = text.replace("on at\n", "on Go\n            run at(n = 1)\n")
    text = text.replace("on Done", "on at completed\n        transition v: B -> C on at failed")
    result = check_source(SourceFile("at.pm", text))
    assert [(d.id, d.message) for d in result.diagnostics] == [
        ("PM0901", "event `Done` is never used")
    ]


def test_on_at_is_a_deadline_only_before_a_data_reference() -> None:
    text = BASE.replace(
        "on Go when data.flag", "on at data.due\n        transition u: A -> B on at"
    )
    module = parse(SourceFile("at.pm", text)).module
    assert module is not None
    [machine] = [d for d in module.process.declarations if isinstance(d, ast.MachineDecl)]
    triggers = [m.trigger for m in machine.members if isinstance(m, ast.Transition)]
    assert [type(trigger) for trigger in triggers] == [ast.DeadlineTrigger, ast.EventTrigger]


def nested_nots(count: int) -> str:
    return with_guard("not " * count + "data.flag")


@pytest.mark.parametrize("count", [500, 5_000])
def test_a_long_run_of_not_is_refused_at_the_nesting_limit(count: int) -> None:
    result = check_source(SourceFile("nots.pm", nested_nots(count)))
    [error] = result.diagnostics
    assert (error.id, error.message) == (
        "PM0005",
        f"an expression is nested too deeply (the limit is {MAX_NESTING} levels)",
    )


def test_not_and_parentheses_count_together() -> None:
    result = check_source(SourceFile("nots.pm", with_guard("not (" * 20 + "data.flag" + ")" * 20)))
    assert [d.id for d in result.diagnostics] == ["PM0005"]


def test_a_few_nots_are_fine() -> None:
    assert messages(nested_nots(MAX_NESTING - 4)) == []
