"""A deployed process needs pmc.runtime only, never the compiler's dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pmc.runtime
from tests.codegen.support import compile_text
from tests.engine.test_seed_scenario import REBASE_CLEANUP

RUNTIME = Path(pmc.runtime.__file__).parent
COMPILER_ONLY = ("lark", "jinja2", "typer")


def test_runtime_imports_nothing_from_the_compiler() -> None:
    offending = []
    for path in sorted(RUNTIME.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                inside = name == "pmc.runtime" or name.startswith("pmc.runtime.")
                # The error root is a leaf the runtime's exceptions derive from.
                inside = inside or name == "pmc.errors"
                if top in COMPILER_ONLY or (top == "pmc" and not inside):
                    offending.append(f"{path.relative_to(RUNTIME)}: {name}")
    assert offending == []


def test_importing_a_generated_module_loads_no_compiler_dependency(tmp_path: Path) -> None:
    (tmp_path / "rebase_cleanup.py").write_text(compile_text(REBASE_CLEANUP), encoding="utf-8")
    script = (
        "import sys, rebase_cleanup\n"
        f"print(sorted(m for m in {COMPILER_ONLY!r} if m in sys.modules))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )

    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
