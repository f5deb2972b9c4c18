"""The pipeline's direction, checked: syntax -> semantics -> codegen -> runtime -> cli.

Each part of ``pmc`` may import only the parts listed for it. The one edge
against the flow is deliberate: codegen imports ``pmc.runtime.contract``
(the trigger keys it writes into generated tables are the ones the engine
looks up, and the API number it declares is the one the runtime checks) —
one definition of the contract, not two.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pmc"

ALLOWED: dict[str, set[str]] = {
    "pmc.errors": set(),
    "pmc.source": set(),
    "pmc.naming": set(),
    "pmc.files": set(),
    "pmc._resources": set(),
    "pmc.diagnostics": {"pmc.source"},
    "pmc.syntax": {"pmc.diagnostics", "pmc.source", "pmc._resources"},
    "pmc.semantics": {"pmc.syntax", "pmc.diagnostics", "pmc.source", "pmc.naming"},
    "pmc.compiler": {"pmc.syntax", "pmc.semantics", "pmc.diagnostics", "pmc.source"},
    "pmc.codegen": {
        "pmc.semantics",
        "pmc.naming",
        "pmc._resources",
        "pmc.runtime.contract",
        # The header hashes the program as `pmc fmt` lays it out.
        "pmc.syntax",
        "pmc.fmt",
        "pmc.source",
        # Emitting generated files writes them atomically, like fmt and graph.
        "pmc.files",
    },
    "pmc.fmt": {"pmc.syntax", "pmc.diagnostics", "pmc.source"},
    "pmc.graph": {"pmc.semantics"},
    "pmc.breaking": {
        "pmc.semantics",
        "pmc.syntax",
        "pmc.diagnostics",
        "pmc.source",
    },
    "pmc.explain": {"pmc", "pmc._resources"},
    "pmc.replay": {"pmc.runtime", "pmc.diagnostics"},
    "pmc.runtime": set(),
}
UNRESTRICTED = {"pmc", "pmc.cli", "pmc.__main__"}


def _part(module: str) -> str:
    """The part of pmc a module belongs to: ``pmc.syntax.parser`` -> ``pmc.syntax``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    return ".".join(relative.parts).removesuffix(".__init__")


def _pmc_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "pmc" or name.startswith("pmc.")}


def _allowed(importer: str, imported: str) -> bool:
    own = _part(importer)
    # The error root is a leaf every part may raise from.
    if _part(imported) == own or imported == "pmc.errors":
        return True
    allowed = ALLOWED[own]
    return imported in allowed or _part(imported) in allowed


MODULES = sorted(SRC.rglob("*.py"))


def test_every_part_has_a_rule() -> None:
    parts = {_part(_module_name(path)) for path in MODULES}
    assert sorted(parts - set(ALLOWED) - UNRESTRICTED) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_pipeline(path: Path) -> None:
    importer = _module_name(path)
    if _part(importer) in UNRESTRICTED:
        return
    wrong = sorted(i for i in _pmc_imports(path) if not _allowed(importer, i))
    assert wrong == [], f"{importer} imports {wrong}"


@pytest.mark.parametrize(
    "path", sorted((SRC / "codegen").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_codegen_imports_only_the_runtime_contract(path: Path) -> None:
    runtime = {i for i in _pmc_imports(path) if _part(i) == "pmc.runtime" or i == "pmc"}
    assert runtime <= {"pmc.runtime.contract"}, f"{_module_name(path)} imports {sorted(runtime)}"
