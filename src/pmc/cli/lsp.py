"""``pmc lsp``: the Language Server for editors, over stdio (docs/editors.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from pmc import __version__
from pmc.cli.shared import UsageError, app


@app.command()
def lsp(
    stdio: Annotated[
        bool,
        typer.Option(
            "--stdio",
            help="Speak over stdin/stdout: what the server always does; "
            "accepted because clients (vscode-languageclient) pass it.",
        ),
    ] = False,
) -> None:
    """Run the Language Server for .pm files on stdin/stdout (started by an editor)."""
    del stdio  # stdio is the only transport
    try:
        # Imported first on its own: a missing extra is a usage error, not a traceback.
        import pygls  # noqa: F401
    except ImportError as missing:
        raise UsageError(
            "pmc lsp needs pygls, which is not installed",
            help="pip install 'event-sourcery-pmc[lsp]'",
        ) from missing
    from pmc.lsp import serve

    serve(__version__)
