"""The semantics stage: resolve names, check types and graphs, build the model.

``analyze(module)`` takes a parsed :class:`~pmc.syntax.ast.Module` and returns
an :class:`Analysis`: the validated :class:`~pmc.semantics.model.ProcessModel`
(None while any error stands) and every diagnostic, sorted by position.
"""

from pmc.semantics.analysis import Analysis, analyze

__all__ = ["Analysis", "analyze"]
