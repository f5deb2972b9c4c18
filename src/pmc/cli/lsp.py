"""``pmc lsp``: the Language Server for editors, over stdio (docs/editors.md)."""

from __future__ import annotations

from importlib.util import find_spec

from pmc import __version__
from pmc.cli.shared import UsageError, app


@app.command()
def lsp() -> None:
    """Run the Language Server for .pm files on stdin/stdout (started by an editor)."""
    if find_spec("pygls") is None:
        raise UsageError(
            "pmc lsp needs pygls, which is not installed",
            help="pip install 'event-sourcery-pmc[lsp]'",
        )
    from pmc.lsp import serve

    serve(__version__)
