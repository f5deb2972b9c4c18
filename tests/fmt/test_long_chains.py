"""Long flat chains: check, fmt and compile agree, whatever the length.

`a and b and ...` is a left tree as deep as the chain is long; every stage
walks it in a loop. Python itself nests `x - y - ...` a level per operator,
so a long sum is refused by `pmc check` (PM0005) rather than by the compiler.
"""

from __future__ import annotations

import sys

import pytest

from pmc.compiler import check_source, compile_source
from pmc.semantics.expressions import MAX_PYTHON_DEPTH
from pmc.source import SourceFile
from tests.fmt.support import fmt


def chain_process(guard: str, value: str) -> str:
    return f"""\
process P {{
    key id
    event Go {{ id: str }}
    machine M {{
        data {{
            flag: bool = false
            count: int = 0
        }}
        states A, B
        initial A
        final B
        transition t: A -> B on Go
            when {guard}
            set instance.flag = {value}
    }}
}}
"""


# Deeper than Python's own stack: a stage that recursed over the chain would
# raise RecursionError here. Far deeper buys nothing more, and the checks of a
# chain grow faster than its length.
BEYOND_THE_STACK = sys.getrecursionlimit() + 500


def conjunction(terms: int) -> str:
    return " and ".join(["instance.flag"] * terms)


def difference(terms: int) -> str:
    return " - ".join(["instance.count"] * terms) + " > 0"


@pytest.mark.parametrize("terms", [1_000, BEYOND_THE_STACK])
def test_a_long_conjunction_checks_formats_and_compiles(terms: int) -> None:
    text = chain_process(conjunction(terms), conjunction(terms))
    source = SourceFile("chain.pm", text)

    assert check_source(source).diagnostics == ()
    formatted = fmt(text)
    # One operand per line, in the guard and in the `set` value alike.
    assert formatted.count("\n                and instance.flag") == 2 * (terms - 1)
    assert fmt(formatted) == formatted
    compiled = compile_source(source)
    assert compiled.code is not None
    # Written flat, as Python holds it: one operand per line after the first.
    assert compiled.code.count("and _s.instance.flag\n") == 2 * (terms - 1)


@pytest.mark.parametrize("terms", [1_000, BEYOND_THE_STACK])
def test_a_long_difference_is_a_check_error_not_a_compile_error(terms: int) -> None:
    text = chain_process(difference(terms), "true")
    source = SourceFile("chain.pm", text)

    [error] = check_source(source).diagnostics
    assert error.id == "PM0005"
    assert error.message == (
        f"an expression is nested {terms + 1} levels deep as Python"
        f" (the limit is {MAX_PYTHON_DEPTH})"
    )
    assert compile_source(source).code is None
    assert fmt(text).count(" - ") == terms - 1


def test_a_difference_within_the_limit_compiles() -> None:
    text = chain_process(difference(MAX_PYTHON_DEPTH - 2), "true")
    compiled = compile_source(SourceFile("chain.pm", text))
    assert compiled.diagnostics == ()
    assert compiled.code is not None
