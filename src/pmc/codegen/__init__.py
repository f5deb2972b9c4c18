"""Code generation: a checked :class:`~pmc.semantics.model.ProcessModel` -> Python source."""

from pmc.codegen.render import HEADER_PREFIX, generate, header_lines

__all__ = ["HEADER_PREFIX", "generate", "header_lines"]
