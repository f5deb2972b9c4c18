"""Code generation: a checked :class:`~pmc.semantics.model.ProcessModel` -> Python source."""

from pmc.codegen.formatter import CodegenError
from pmc.codegen.render import HEADER_PREFIX, generate, header_lines

__all__ = ["HEADER_PREFIX", "CodegenError", "generate", "header_lines"]
