"""``pmc db init``: create a store's tables ahead of the first worker; ``pmc db reindex``."""

from __future__ import annotations

from typing import Annotated

import typer

from pmc.cli.instances import shell_word
from pmc.cli.shared import EXIT_FAILED, TargetArgument, app, print_error, print_note, resolve
from pmc.cli.stores import StoreOption, existing_store, open_process_store, safe_url
from pmc.diagnostics.render import plural
from pmc.runtime.operations import Operations

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


@db_app.command("reindex")
def reindex(
    target: TargetArgument,
    store: StoreOption,
) -> None:
    """Rebuild the instance index of a process from its streams (safe to run again, and
    while workers run)."""
    definition = resolve(target)
    # An existing store only: a mistyped SQLite path would be a new, empty one.
    with existing_store(store) as process_store:
        report = Operations(definition, process_store).reindex()
    typer.echo(
        f"reindexed {definition.category} in {safe_url(store)}: "
        f"{plural(report.streams, 'stream')}, {plural(report.created, 'row')} created, "
        f"{plural(report.corrected, 'row')} corrected",
        err=True,
    )
    if report.skipped:
        keys = ", ".join(shell_word(key) for key in report.skipped)
        print_error(
            f"{plural(len(report.skipped), 'stream')} kept moving while folded, "
            f"and kept their rows: {keys}"
        )
        print_note("help: run `pmc db reindex` again when fewer writers are busy")
        raise typer.Exit(EXIT_FAILED)
