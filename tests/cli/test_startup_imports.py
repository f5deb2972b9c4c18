"""`pmc check` and `pmc fmt` load only what they use, so pre-commit and editors start fast.

pydantic, SQLAlchemy, event-sourcery and jinja2 serve the runtime and code
generation; a command that only reads `.pm` files must not wait for them
(issue 11; bench/startup.py times it). Each run below is a real process,
which writes the names of every module it loaded when it exits.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import EXAMPLES

HEAVY = ("pydantic", "sqlalchemy", "event_sourcery", "jinja2")
# Modules `pmc check` has no use for: the printer writes programs (`pmc fmt`,
# `pmc compile`); importlib.resources and zipfile read a package that is not
# on disk; json writes `--format json`.
NEEDLESS_FOR_CHECK = ("pmc.syntax.printer", "importlib.resources", "zipfile", "json")

# Runs pmc's entry point as the console script does, and writes the loaded
# modules, a line each, to the file named first when the process exits (pmc
# always exits through SystemExit). It imports nothing pmc might not.
PROBE = """
import atexit, sys
from pathlib import Path
report = Path(sys.argv[1])
atexit.register(lambda: report.write_text("\\n".join(sorted(sys.modules))))
from pmc.cli import main
main(sys.argv[2:])
"""


def loaded_by(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """The exit code of `pmc ARGS` run in ``tmp_path`` and the top-level packages it loaded."""
    exit_code, modules = modules_loaded_by(tmp_path, *args)
    return exit_code, {name.split(".")[0] for name in modules}


def modules_loaded_by(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """The exit code of `pmc ARGS` run in ``tmp_path`` and every module it loaded."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, set(report.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("command", [["check"], ["fmt", "--check"]], ids=" ".join)
def test_reading_commands_load_no_runtime_or_codegen_dependency(
    tmp_path: Path, command: list[str]
) -> None:
    source = shutil.copy(EXAMPLES / "rebase_cleanup.pm", tmp_path)

    exit_code, packages = loaded_by(tmp_path, *command, source)

    assert exit_code == 0
    assert "lark" in packages  # the probe saw the command's own imports
    assert sorted(packages & set(HEAVY)) == []


def test_check_loads_no_module_only_other_commands_or_formats_use(tmp_path: Path) -> None:
    source = shutil.copy(EXAMPLES / "rebase_cleanup.pm", tmp_path)

    exit_code, modules = modules_loaded_by(tmp_path, "check", source)

    assert exit_code == 0
    assert "pmc.syntax.parser" in modules  # the probe saw the command's own imports
    assert sorted(modules & set(NEEDLESS_FOR_CHECK)) == []


def test_compile_still_loads_jinja2_where_it_needs_it(tmp_path: Path) -> None:
    source = shutil.copy(EXAMPLES / "rebase_cleanup.pm", tmp_path)

    exit_code, packages = loaded_by(tmp_path, "compile", source)

    assert exit_code == 0
    assert "class RebaseFailed(" in (tmp_path / "rebase_cleanup.py").read_text(encoding="utf-8")
    assert "jinja2" in packages
