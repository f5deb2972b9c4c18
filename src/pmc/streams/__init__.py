"""Tools on recorded streams: ``export`` writes them as JSON lines, ``replay`` folds them.

Both read what a store recorded (or an export of it) with a generated
process's definition, so they need the runtime and nothing of the compiler:
a deployed service can export and replay without ``lark`` or ``jinja2``.
Findings are diagnostics (:mod:`pmc.diagnostics`) at a stream position.
"""
