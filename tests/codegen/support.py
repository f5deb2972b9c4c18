"""Compile ``.pm`` text and import the generated module, for codegen and engine tests."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from pmc.compiler import check_source, compile_source
from pmc.semantics.model import ProcessModel
from pmc.source import SourceFile
from pmc.syntax.parser import parse
from pmc.syntax.printer import program_text

_counter = itertools.count()
_module_dir = Path(tempfile.mkdtemp(prefix="pmc-generated-"))


def check_clean(text: str, name: str = "inline.pm") -> ProcessModel:
    """The model of a source that must check without errors."""
    result = check_source(SourceFile(name, text))
    assert result.model is not None, [(d.id, d.message) for d in result.diagnostics]
    return result.model


def program_of(text: str, name: str = "inline.pm") -> str:
    """The program text ``generate`` takes, which the header hashes."""
    module = parse(SourceFile(name, text)).module
    assert module is not None, name
    return program_text(module)


def compile_text(text: str, name: str = "inline.pm") -> str:
    """The generated module of a source that must compile without errors."""
    result = compile_source(SourceFile(name, text))
    assert result.code is not None, [(d.id, d.message) for d in result.diagnostics]
    return result.code


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
