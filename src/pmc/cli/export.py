"""``pmc export``: a process's recorded streams as JSON lines, for ``pmc replay``."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, TextIO

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pmc.cli.shared import EXIT_USAGE, app, print_error
from pmc.cli.worker import STORE_ENV, safe_url
from pmc.diagnostics.render import plural
from pmc.runtime import ProcessDefinition
from pmc.runtime.stores import ProcessStore, open_store
from pmc.streams.export import export_streams, to_json_line
from pmc.streams.replay import TargetError, load_process


class StoreError(Exception):
    """The store cannot be opened or read."""


TargetArgument = Annotated[
    str,
    typer.Argument(
        help="The generated process: `module:Class` (the current directory is importable), "
        "or `module` for its DEFINITION.",
        metavar="MODULE:PROCESS",
    ),
]
KeysOption = Annotated[
    list[str] | None,
    typer.Option("--key", help="Only this stream (repeatable); default: every stream."),
]


def resolve(target: str) -> ProcessDefinition:
    """Load ``MODULE:Process`` the way ``python -m`` would find ``MODULE``."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return load_process(target)


def open_existing_store(url: str) -> ProcessStore:
    """The store at ``url``; a missing SQLite file is an error, not a new empty store."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    # Opening creates the tables, so a mistyped path would pass as an empty store.
    database = parsed.database if parsed and parsed.drivername.startswith("sqlite") else None
    if database and not Path(database).is_file():
        raise StoreError(f"no store at {safe_url(url)}: `{database}` does not exist")
    try:
        return open_store(url)
    except (ValueError, ArgumentError, SQLAlchemyError) as error:
        raise StoreError(f"cannot open {safe_url(url)}: {error}") from None


def check_keys(store: ProcessStore, category: str, keys: Sequence[str]) -> None:
    """Every key asked for must name a stream: a typo must not pass as "nothing to do"."""
    missing = [key for key in keys if store.version(category, key) == 0]
    if missing:
        listed = ", ".join(f"`{key}`" for key in missing)
        raise StoreError(f"no stream {listed} of `{category}` in the store")


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[TextIO]:
    """stdout for None or ``-``; otherwise a temporary file renamed over ``path`` on success."""
    if path is None or path == "-":
        yield sys.stdout
        return
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@app.command()
def export(
    target: TargetArgument,
    store: Annotated[
        str,
        typer.Option(
            "--store",
            envvar=STORE_ENV,
            help="The store URL: sqlite:///path.db or postgresql://user@host:port/db.",
        ),
    ],
    keys: KeysOption = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write here instead of stdout.", metavar="FILE"),
    ] = None,
) -> None:
    """Write a process's recorded streams as JSON lines (by key, then version)."""
    try:
        definition = resolve(target)
        process_store = open_existing_store(store)
    except (TargetError, StoreError) as error:
        print_error(str(error))
        raise typer.Exit(EXIT_USAGE) from None
    streams = events = 0
    try:
        if keys:
            check_keys(process_store, definition.category, keys)
        with atomic_output(output) as out:
            last_key = None
            for event in export_streams(process_store, definition.category, keys or None):
                out.write(to_json_line(event) + "\n")
                events += 1
                if event.key != last_key:  # streams come whole, one after the other
                    streams += 1
                    last_key = event.key
    except StoreError as error:
        print_error(str(error))
        raise typer.Exit(EXIT_USAGE) from None
    except SQLAlchemyError as error:
        print_error(f"cannot read {safe_url(store)}: {error}")
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as error:
        print_error(f"cannot write `{output}`: {error.strerror or error}")
        raise typer.Exit(EXIT_USAGE) from None
    finally:
        process_store.close()
    typer.echo(
        f"exported {plural(streams, 'stream')}, {plural(events, 'event')} of {definition.category}",
        err=True,
    )
