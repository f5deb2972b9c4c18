"""``pmc db init``: create a store's tables ahead of the first worker."""

from __future__ import annotations

from typing import Annotated

import typer

from pmc.cli.shared import app
from pmc.cli.stores import open_process_store, safe_url

db_app = typer.Typer(
    name="db",
    help="Manage process stores.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(db_app)


@db_app.command("init")
def init(
    url: Annotated[
        str,
        typer.Argument(help="sqlite:///path.db or postgresql://user@host:port/db", metavar="URL"),
    ],
) -> None:
    """Create the store's tables if they are missing (safe to run again)."""
    open_process_store(url, doing="initialise").close()
    typer.echo(f"store ready: {safe_url(url)}", err=True)
