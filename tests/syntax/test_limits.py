"""Hostile input: every file either checks within seconds or fails with PM0005.

Lark handles some 50,000 tokens a second, so the parser bounds the work
up front: the file's size, its number of tokens and how deeply brackets nest
(the AST builder recurses over the tree). The time limits below are generous
for a slow two-core machine; on a laptop each case takes well under a second,
except the largest accepted file.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pmc.compiler import CheckResult, check_source
from pmc.source import SourceFile
from pmc.syntax.parser import MAX_NESTING, MAX_SOURCE_BYTES, MAX_TOKENS, parse

SECONDS = 10.0


def chained_states(count: int) -> str:
    """A valid process whose machine walks through ``count`` states one by one."""
    states = ", ".join(f"S{i}" for i in range(count))
    transitions = "".join(
        f"        transition t{i}: S{i} -> S{i + 1} on Go\n" for i in range(count - 1)
    )
    return (
        "process P {\n"
        "    key id\n"
        "    event Go { id: str }\n"
        "    machine M {\n"
        f"        states {states}\n"
        "        initial S0\n"
        f"        final S{count - 1}\n"
        f"{transitions}"
        "    }\n"
        "}\n"
    )


def nested_type(depth: int) -> str:
    type_ = "list[" * depth + "str" + "]" * depth
    return (
        "process P {\n    key id\n    event Go {\n        id: str\n"
        f"        deep: {type_}\n    }}\n"
        "    machine M {\n        states A, B\n        initial A\n        final B\n"
        "        transition go: A -> B on Go\n    }\n}\n"
    )


def timed(run: Callable[[], CheckResult]) -> tuple[CheckResult, float]:
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def check(text: str) -> tuple[CheckResult, float]:
    return timed(lambda: check_source(SourceFile("hostile.pm", text)))


def codes(result: CheckResult) -> list[str]:
    return [d.id for d in result.diagnostics]


def test_a_five_megabyte_file_is_refused_at_once() -> None:
    text = "# " + "x" * (5 * 1024 * 1024) + "\nprocess P {}\n"
    result, seconds = check(text)
    assert codes(result) == ["PM0005"]
    assert result.diagnostics[0].message == (
        f"file is too large ({len(text):,} bytes; the limit is {MAX_SOURCE_BYTES:,})"
    )
    assert seconds < SECONDS


def test_a_hundred_thousand_states_stop_at_a_limit_quickly() -> None:
    result, seconds = check(chained_states(100_000))
    assert codes(result) == ["PM0005"]
    assert seconds < SECONDS


def test_too_many_tokens_are_refused_where_the_limit_is_reached() -> None:
    tokens = ["process", "P", "{", "machine", "M", "{", "states"]
    tokens += ["A", ","] * (MAX_TOKENS // 2) + ["A", "}", "}"]
    text = " ".join(tokens)
    result, seconds = check(text)
    [error] = result.diagnostics
    assert (error.id, error.message) == (
        "PM0005",
        f"the file has too many tokens (the limit is {MAX_TOKENS:,})",
    )
    first_token_too_many = len(" ".join(tokens[:MAX_TOKENS])) + 2
    assert (error.span.line, error.span.column) == (1, first_token_too_many)
    assert seconds < SECONDS


def test_the_largest_process_within_the_limits_checks_in_seconds() -> None:
    # Ten tokens per state: about as many states as the token limit allows.
    text = chained_states(MAX_TOKENS // 10 - 10)
    result, seconds = check(text)
    assert result.diagnostics == ()
    assert result.model is not None
    assert seconds < SECONDS


@pytest.mark.parametrize("depth", [MAX_NESTING - 2, 10_000])
def test_deeply_nested_types_never_exhaust_the_stack(depth: int) -> None:
    result, seconds = check(nested_type(depth))
    if depth > MAX_NESTING:
        [error] = result.diagnostics
        assert (error.id, error.message) == (
            "PM0005",
            f"brackets are nested too deeply (the limit is {MAX_NESTING} levels)",
        )
        # The first bracket past the limit: `list[` starts at column 15 of line 5.
        assert (error.span.line, error.span.column) == (5, 15 + 5 * (MAX_NESTING - 2) + 4)
    else:
        assert codes(result) == []
    assert seconds < SECONDS


@pytest.mark.parametrize(
    "text",
    [
        "process P " + "{" * 10_000 + "}" * 10_000,
        "process P { machine M { transition t: A -> B on E run T"
        + "(" * 10_000
        + ")" * 10_000
        + " } }",
        "[" * 10_000,
        "process P { event E { a: " + "list[" * 10_000 + " } }",
    ],
    ids=["braces", "parentheses", "brackets_alone", "unclosed_brackets"],
)
def test_ten_thousand_open_brackets_give_one_error_quickly(text: str) -> None:
    result, seconds = check(text)
    assert len(result.diagnostics) == 1
    assert result.diagnostics[0].id in {"PM0001", "PM0005"}
    assert seconds < SECONDS


def test_a_huge_token_is_shortened_in_the_message() -> None:
    name = "x" * 100_000
    result = parse(SourceFile("hostile.pm", f"process P {{ {name} }}"))
    [error] = result.diagnostics
    assert error.message.startswith("unexpected `xxxxxxxx")
    assert len(error.message) < 300


def test_a_huge_integer_is_refused_without_converting_it() -> None:
    # Python refuses int() on strings of over 4,300 digits; this must not crash.
    digits = "9" * 100_000
    text = chained_states(2).replace("event Go { id: str }", f"event Go {{ id: int = {digits} }}")
    [error] = parse(SourceFile("hostile.pm", text)).diagnostics
    assert error.id == "PM0006"
    assert len(error.message) < 100
