"""The ``pmc`` command line: one module per command, registered on one typer app."""

from pmc.cli import (
    breaking,  # noqa: F401
    check,  # noqa: F401  (registers the command)
    compile,  # noqa: F401
    db,  # noqa: F401
    explain,  # noqa: F401
    export,  # noqa: F401
    fmt,  # noqa: F401
    graph,  # noqa: F401
    replay,  # noqa: F401
    worker,  # noqa: F401
)
from pmc.cli.app import app, main

__all__ = ["app", "main"]
