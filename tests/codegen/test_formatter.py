"""The pinned ruff formats every generated module; its failures are CodegenErrors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmc.codegen import CodegenError, formatter, generate
from tests.codegen.support import check_clean, program_of
from tests.engine.test_seed_scenario import REBASE_CLEANUP


@pytest.fixture(autouse=True)
def fresh_ruff_lookup() -> Iterator[None]:
    formatter._ruff_bin.cache_clear()
    yield
    formatter._ruff_bin.cache_clear()


def test_the_formatter_has_the_last_word() -> None:
    text = "x = [1,\n  2]\ndef f( a ):\n  return a\n"

    assert formatter.format_module(text, filename="m.py") == (
        "x = [1, 2]\n\n\ndef f(a):\n    return a\n"
    )


def test_a_users_ruff_configuration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = check_clean(REBASE_CLEANUP)
    program = program_of(REBASE_CLEANUP)
    expected = generate(model, source_name="r.pm", program=program)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 40\n[tool.ruff.format]\nquote-style = "single"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    assert generate(model, source_name="r.pm", program=program) == expected


def test_code_ruff_cannot_parse_is_a_codegen_error() -> None:
    with pytest.raises(CodegenError, match=r"could not format .*m\.py.*bug in pmc"):
        formatter.format_module("def broken(:\n", filename="m.py")


def test_a_missing_ruff_executable_is_a_codegen_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formatter, "_ruff_bin", lambda: "/nonexistent/ruff")

    with pytest.raises(CodegenError, match="cannot run ruff"):
        formatter.format_module("x = 1\n", filename="m.py")


def test_ruff_not_installed_is_a_codegen_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ruff", None)  # makes ``import ruff`` fail

    with pytest.raises(CodegenError, match=r"ruff is not installed \(pmc needs ruff==0\.17\.6\)"):
        generate(
            check_clean(REBASE_CLEANUP), source_name="r.pm", program=program_of(REBASE_CLEANUP)
        )


def test_the_pinned_version_is_the_one_installed_and_declared() -> None:
    from importlib.metadata import version

    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")

    assert version("ruff") == formatter.RUFF_VERSION
    assert f'"ruff=={formatter.RUFF_VERSION}",' in pyproject


@pytest.mark.parametrize(
    ("source_name", "filename"),
    [
        ("rebase_cleanup.pm", "rebase_cleanup.py"),
        ("dir/sub/orders.pm", "orders.py"),
        ('x.pm\nimport os\n"""', "x.pm_import_os____.py"),
        ("", "generated.py"),
    ],
)
def test_ruff_is_told_a_plain_module_name(source_name: str, filename: str) -> None:
    assert formatter.module_filename(source_name) == filename
