"""Compile ``.pm`` text and import the generated module, for codegen and engine tests."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from pmc.codegen import generate
from pmc.semantics import analyze
from pmc.semantics.model import ProcessModel
from pmc.source import SourceFile
from pmc.syntax.parser import parse

_counter = itertools.count()
_module_dir = Path(tempfile.mkdtemp(prefix="pmc-generated-"))


def check_clean(text: str, name: str = "inline.pm") -> ProcessModel:
    """The model of a source that must check without errors."""
    parsed = parse(SourceFile(name, text))
    assert parsed.module is not None, [d.message for d in parsed.diagnostics]
    analysis = analyze(parsed.module)
    assert analysis.model is not None, [(d.id, d.message) for d in analysis.diagnostics]
    return analysis.model


def compile_text(text: str, name: str = "inline.pm") -> str:
    return generate(check_clean(text, name), source_name=name, source_text=text)


def import_code(code: str) -> ModuleType:
    """Import generated code as a fresh module (a new name every time)."""
    name = f"pmc_generated_{next(_counter)}"
    path = _module_dir / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves postponed annotations through it
    spec.loader.exec_module(module)
    return module


def compile_and_import(text: str) -> ModuleType:
    return import_code(compile_text(text))
