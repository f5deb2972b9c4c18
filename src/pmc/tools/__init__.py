"""Compiler-side tools on a checked process, beside the compile itself.

Each tool is one module or package with one front door:

- :mod:`pmc.tools.fmt`: the canonical layout of a ``.pm`` file, comments kept
  (``format_source``);
- :mod:`pmc.tools.graph`: the machines as Mermaid or Graphviz diagrams
  (``render_mermaid``, ``render_dot``);
- :mod:`pmc.tools.breaking`: changes between two versions that break replay of
  recorded streams (``compare``);
- :mod:`pmc.tools.explain`: the reference documentation of a diagnostic id
  (``explain``).

They read the AST or the semantic model and return data or text; the CLI
reads and writes files. Codegen never imports a tool: what it shares with
``fmt`` (the canonical printer) lives in :mod:`pmc.syntax.printer`.
"""
