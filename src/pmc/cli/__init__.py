"""The ``pmc`` command line: one module per command, registered on one typer app.

Importing a command module registers it. ``main`` imports only the module of
the command being run, so ``pmc check`` in a pre-commit hook does not pay for
the runtime's SQLAlchemy stack; ``pmc --help`` (and ``pmc.cli.shared``) load all
of them, in this order, which follows a user's path: validate, generate,
tidy, guard, run, operate.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from pmc.cli import shared

if TYPE_CHECKING:
    from typer import Typer

    app: Typer

COMMAND_MODULES: dict[str, str] = {
    "check": "pmc.cli.check",
    "compile": "pmc.cli.compile",
    "fmt": "pmc.cli.fmt",
    "graph": "pmc.cli.graph",
    "breaking": "pmc.cli.breaking",
    "explain": "pmc.cli.explain",
    "lsp": "pmc.cli.lsp",
    "worker": "pmc.cli.worker",
    "db": "pmc.cli.db",
    "ps": "pmc.cli.instances",
    "show": "pmc.cli.instances",
    "export": "pmc.cli.export",
    "replay": "pmc.cli.replay",
    "cancel": "pmc.cli.actions",
    "retry": "pmc.cli.actions",
    "fire": "pmc.cli.actions",
    "move": "pmc.cli.actions",
    "ui": "pmc.cli.ui",
}


def load_commands(names: Iterable[str] | None = None) -> None:
    """Register the named commands (all of them by default)."""
    for name in COMMAND_MODULES if names is None else names:
        importlib.import_module(COMMAND_MODULES[name])


def _command_of(args: Sequence[str]) -> str | None:
    """The command being run: the first word that is not an option."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(args)
    load_commands([command] if command in COMMAND_MODULES else None)
    shared.main(args)


def __getattr__(name: str) -> Any:
    if name == "app":
        load_commands()
        return shared.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMAND_MODULES", "app", "load_commands", "main"]
