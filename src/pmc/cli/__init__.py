"""The ``pmc`` command line: one module per command, registered on one typer app.

Importing a command module registers it; ``pmc --help`` lists the commands in
this order, so it follows a user's path: validate, generate, tidy, guard, run.
"""

# isort: off
from pmc.cli import check  # noqa: F401
from pmc.cli import compile  # noqa: F401
from pmc.cli import fmt  # noqa: F401
from pmc.cli import graph  # noqa: F401
from pmc.cli import breaking  # noqa: F401
from pmc.cli import explain  # noqa: F401
from pmc.cli import worker  # noqa: F401
from pmc.cli import db  # noqa: F401
from pmc.cli import export  # noqa: F401
from pmc.cli import replay  # noqa: F401

# isort: on
from pmc.cli.app import app, main

__all__ = ["app", "main"]
