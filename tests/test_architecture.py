"""The pipeline's direction, checked.

syntax -> semantics -> the compiler front door (``pmc.compiler``) -> codegen;
the tools (``pmc.tools``) work on the AST and the model; the tools on
recorded streams (``pmc.streams``) work on the runtime alone; the runtime
(``pmc.runtime``) imports nothing else of pmc; the cli may import anything.
Each part of ``pmc`` may import only the parts listed for it, and inside the
runtime each module only the layers below it (``RUNTIME_LAYERS``). The one
edge against the flow is deliberate: codegen imports ``pmc.runtime.contract``
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
    # The filters an operator writes as text, read by `pmc ps` and the inspector.
    "pmc.filters": set(),
    "pmc.diagnostics": {"pmc.source"},
    "pmc.syntax": {"pmc.diagnostics", "pmc.source", "pmc._resources"},
    "pmc.semantics": {"pmc.syntax", "pmc.diagnostics", "pmc.source", "pmc.naming"},
    "pmc.compiler": {
        "pmc.syntax",
        "pmc.semantics",
        "pmc.codegen",
        "pmc.diagnostics",
        "pmc.source",
    },
    "pmc.codegen": {
        "pmc.semantics",
        "pmc.naming",
        "pmc._resources",
        "pmc.runtime.contract",
        # Emitting generated files writes them atomically, like fmt and graph.
        "pmc.files",
    },
    # Compiler-side tools on the AST and the model.
    "pmc.tools": {"pmc.syntax", "pmc.semantics", "pmc.diagnostics", "pmc.source", "pmc._resources"},
    "pmc.streams": {"pmc.runtime", "pmc.diagnostics"},
    # The Language Server: the front end through `pmc.compiler`, the AST for the
    # symbol index, and the tools an editor runs (fmt, explain).
    "pmc.lsp": {
        "pmc.compiler",
        "pmc.syntax",
        "pmc.diagnostics",
        "pmc.source",
        "pmc.tools",
    },
    "pmc.runtime": set(),
    # The web inspector: a view of the runtime's Operations, as the CLI's
    # `pmc ps` / `pmc show` are; its filters' grammar is `pmc ps`'s, and it
    # shows keys as they do (`escape_text`).
    "pmc.inspector": {"pmc.runtime", "pmc.filters", "pmc.diagnostics"},
    # OpenTelemetry for the runtime: implements its telemetry seam, imported by nothing in it.
    "pmc.otel": {"pmc.runtime", "pmc"},
    # The Pygments lexer (a package; PmLexer in lexer.py): found by Pygments
    # through its entry point, a leaf.
    "pmc.highlight": set(),
    # The testing kit runs processes on the runtime and reads `pmc export` lines.
    "pmc.testing": {"pmc.runtime", "pmc.streams"},
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


def _imports_by_module() -> dict[str, set[str]]:
    """Each module of pmc and the modules of pmc it imports, as written.

    ``from pmc.syntax import ast`` imports the module ``pmc.syntax.ast``;
    ``from pmc.syntax import parse`` imports ``pmc.syntax``. Imports under
    ``if TYPE_CHECKING:`` are left out: they never run.
    """
    modules = {_module_name(path): path for path in MODULES}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for inner in ast.walk(node)
        }
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module
                    for alias in node.names
                }
        graph[name] = {imported for imported in found if imported in modules} - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (its modules in order), or [] if there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        path.append(module)
        for imported in sorted(graph[module]):
            cycle = visit(imported)
            if cycle:
                return cycle
        path.pop()
        done.add(module)
        return []

    return next((cycle for module in sorted(graph) if (cycle := visit(module))), [])


def test_no_module_imports_itself_through_others() -> None:
    assert _cycle(_imports_by_module()) == []


def _imported_by(part: str) -> set[str]:
    """The modules of pmc that the modules of ``part`` import."""
    graph = _imports_by_module()
    return {imported for module in graph if _part(module) == part for imported in graph[module]}


def test_tools_on_streams_import_only_the_runtime_and_the_diagnostic_model() -> None:
    allowed = {"pmc.streams", "pmc.runtime", "pmc.diagnostics", "pmc.errors"}
    assert sorted(i for i in _imported_by("pmc.streams") if _part(i) not in allowed) == []


def test_only_commands_render_diagnostics() -> None:
    # Every other part returns diagnostics as data; printing them is the CLI's.
    graph = _imports_by_module()
    renderers = {m for m in graph if _part(m) != "pmc.cli" and "pmc.diagnostics.render" in graph[m]}
    assert sorted(renderers - {"pmc.diagnostics.render"}) == []


# What the CLI may take from the compile's stages: the compile itself goes
# through `pmc.compiler`; the CLI reads a file up to the parser's size limit,
# and writes generated files with codegen's emit (staleness, the header check).
CLI_STAGE_IMPORTS: dict[str, set[str] | None] = {
    "pmc.syntax.parser": {"MAX_SOURCE_BYTES"},
    "pmc.codegen.emit": None,
}


def test_commands_do_not_rebuild_the_compile() -> None:
    wrong = []
    for path in MODULES:
        if _part(_module_name(path)) != "pmc.cli":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            taken: dict[str, set[str] | None]
            if isinstance(node, ast.Import):
                taken = {alias.name: None for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                taken = {node.module: {alias.name for alias in node.names}}
            else:
                continue
            for module, names in taken.items():
                if _part(module) not in {"pmc.syntax", "pmc.semantics", "pmc.codegen"}:
                    continue
                if module not in CLI_STAGE_IMPORTS:
                    wrong.append(f"{_module_name(path)}: {module}")
                    continue
                allowed = CLI_STAGE_IMPORTS[module]
                if allowed is not None and not (names or set()) <= allowed:
                    wrong.append(f"{_module_name(path)}: {module} {sorted(names or ())}")
    assert wrong == []


def test_codegen_takes_only_the_contract_from_the_runtime() -> None:
    from_runtime = {i for i in _imported_by("pmc.codegen") if _part(i) == "pmc.runtime"}
    assert from_runtime <= {"pmc.runtime.contract"}


# ---- inside the runtime ------------------------------------------------------------------

RUNTIME = sorted((SRC / "runtime").rglob("*.py"))
RUNTIME_NAMES = {_module_name(path) for path in RUNTIME}


def _runtime_imports(path: Path) -> dict[str, set[str]]:
    """The runtime modules ``path`` imports, each with the names it takes from it.

    ``from pmc.runtime import attempts`` imports the module ``pmc.runtime.attempts``.
    """
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name, set())
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in RUNTIME_NAMES:
                    found.setdefault(submodule, set())
                else:
                    found.setdefault(node.module, set()).add(alias.name)
    return {module: names for module, names in found.items() if module in RUNTIME_NAMES}


RUNTIME_GRAPH = {_module_name(path): _runtime_imports(path) for path in RUNTIME}


def test_no_runtime_module_borrows_another_ones_privates() -> None:
    borrowed = sorted(
        f"{importer} takes {name} from {module}"
        for importer, imports in RUNTIME_GRAPH.items()
        for module, names in imports.items()
        for name in names
        if name.startswith("_")
    )
    assert borrowed == []


def test_only_the_workers_and_operations_build_on_the_manager_and_only_on_its_facade() -> None:
    # The workers, the asyncio facade and the operator actions compose a
    # ProcessManager; the pieces they use live below it. (The package itself re-exports the facade.)
    users = {
        importer: sorted(imports["pmc.runtime.manager"])
        for importer, imports in RUNTIME_GRAPH.items()
        if "pmc.runtime.manager" in imports and importer != "pmc.runtime"
    }
    assert users == {
        "pmc.runtime.actions": ["ProcessManager"],
        "pmc.runtime.aio": ["ProcessManager"],
        "pmc.runtime.operations": ["ProcessManager"],
        "pmc.runtime.worker": ["ProcessManager"],
    }


# Each runtime module imports only modules of its own layer or the layers
# before it: plain data at the bottom, the manager and the worker on top.
# (The package itself, which re-exports the facade, comes last.)
RUNTIME_LAYERS: list[set[str]] = [
    {"lifecycle", "operator", "state", "instances", "stores"},
    {"contract"},
    {"engine"},
    {"definition"},
    {"loading", "work", "results", "loops"},
    {"preconditions", "cache", "attempts", "log"},
    {"telemetry"},
    {"recorder"},
    {"running"},
    {"manager"},
    {"worker", "actions"},
    {"operations", "aio"},
    {""},
]


def _layer_name(module: str) -> str:
    """A runtime module as ``RUNTIME_LAYERS`` names it: ``pmc.runtime.stores.sql`` is ``stores``."""
    return module.removeprefix("pmc.runtime").removeprefix(".").split(".")[0]


def _runtime_layer(module: str) -> int:
    name = _layer_name(module)
    return next(index for index, layer in enumerate(RUNTIME_LAYERS) if name in layer)


def test_every_runtime_module_has_a_layer() -> None:
    named = {name for layer in RUNTIME_LAYERS for name in layer}
    assert sorted(m for m in RUNTIME_GRAPH if _layer_name(m) not in named) == []


def test_no_runtime_module_imports_upwards() -> None:
    upwards = sorted(
        f"{importer} imports {imported}"
        for importer, imports in RUNTIME_GRAPH.items()
        for imported in imports
        if _runtime_layer(imported) > _runtime_layer(importer)
    )
    assert upwards == []
