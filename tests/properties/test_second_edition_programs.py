"""Second-edition programs built valid (issue 10): `pmc check` passes them,
`pmc fmt` keeps their meaning, and their generated modules import and pass
``mypy --strict``.

The programs (:func:`~tests.properties.second_edition.programs`) have data in
the process and in machines, guards, ``set``, signals and ``emit``, ``keep``,
``at`` deadlines and data conditions, each drawn where it fits: a program
the checker rejects is a checker bug or a generator bug, either worth a look.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from pmc.compiler import check_source
from pmc.source import SourceFile
from pmc.tools.fmt import format_source
from tests.codegen.support import compile_text, import_code
from tests.properties.cli import run_cli
from tests.properties.names import mypy_strict
from tests.properties.second_edition import Program, programs

_numbers = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_a_generated_program_checks_without_errors(program: Program) -> None:
    note(program.text)

    result = check_source(SourceFile("generated.pm", program.text))

    assert [(d.id, d.message) for d in result.diagnostics if d.severity == "error"] == []
    assert result.model is not None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_pmc_fmt_keeps_the_meaning_of_a_generated_program(program: Program) -> None:
    formatted = format_source(SourceFile("generated.pm", program.text)).text
    assert formatted is not None
    note(formatted)

    before = check_source(SourceFile("generated.pm", program.text)).model
    after = check_source(SourceFile("generated.pm", formatted)).model

    assert after == before
    assert format_source(SourceFile("generated.pm", formatted)).text == formatted


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs())
def test_pmc_check_passes_a_generated_program(
    program: Program, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("check") / "generated.pm"
    path.write_text(program.text, encoding="utf-8")

    code, stdout, stderr = run_cli("check", str(path))

    # Warnings (a signal never handled, say) leave the exit code 0.
    assert code == 0, (program.text, stdout + stderr)


# Programs a property once found wrong, compiled in every batch below. Each
# has a slot ``{name}`` for its process name.
PINNED = (
    # A decimal literal beside an int, in a Decimal context, compiled as a
    # float: mypy refuses `Decimal - float`.
    """
process {name} {
    key id
    event Go { id: str  n: int }
    data { total: Decimal = 2.0 }
    machine M {
        states A, B
        initial A
        final B
        transition t: A -> B on Go set data.total = data.total - (0.5 - event.n)
    }
}
""",
)


@pytest.mark.slow
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # mypy runs once per batch: shrinking a batch would run it hundreds of times.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(batch=st.lists(programs(), min_size=8, max_size=8))
def test_generated_modules_import_and_pass_mypy(
    batch: list[Program], tmp_path_factory: pytest.TempPathFactory, mypy_cache: Path
) -> None:
    directory = tmp_path_factory.mktemp("second_edition")
    texts = [*(replace(p, name="{name}").text for p in batch), *PINNED]
    paths = []
    for text in texts:
        # One process name per module: event-sourcery keeps one class per event name.
        number = next(_numbers)
        code = compile_text(text.replace("{name}", f"Gen{number}"))
        import_code(code)
        path = directory / f"generated_{number}.py"
        path.write_text(code, encoding="utf-8")
        paths.append(path)
        note(f"{path.name}:\n{text}")

    done = mypy_strict(paths, mypy_cache)

    assert done.returncode == 0, done.stdout + done.stderr
