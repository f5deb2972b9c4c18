"""Code generation: a checked :class:`~pmc.semantics.model.ProcessModel` -> Python source."""

from pmc.codegen.emit import HEADER_PREFIX, header_lines
from pmc.codegen.formatter import CodegenError
from pmc.codegen.render import generate

__all__ = ["HEADER_PREFIX", "CodegenError", "generate", "header_lines"]
