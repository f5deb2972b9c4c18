"""``pmc export``: a process's recorded streams as JSON lines, for ``pmc replay``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer

from pmc.cli.shared import KeysOption, OutputError, TargetArgument, app, cannot_write, resolve
from pmc.cli.stores import StoreOption, check_keys, existing_store
from pmc.diagnostics.render import plural
from pmc.files import replacing
from pmc.streams.export import export_streams, to_json_line


@contextlib.contextmanager
def output_to(path: str | None) -> Iterator[TextIO]:
    """stdout for None or ``-``; otherwise ``path``, replaced atomically on success."""
    if path is None or path == "-":
        yield sys.stdout
        return
    with replacing(Path(path)) as out:
        yield out


@app.command()
def export(
    target: TargetArgument,
    store: StoreOption,
    keys: KeysOption = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write here instead of stdout.", metavar="FILE"),
    ] = None,
) -> None:
    """Write a process's recorded streams as JSON lines (by key, then version)."""
    definition = resolve(target)
    streams = events = 0
    with existing_store(store) as process_store:
        if keys:
            check_keys(process_store, definition.category, keys)
        try:
            with output_to(output) as out:
                last_key = None
                for event in export_streams(process_store, definition.category, keys or None):
                    out.write(to_json_line(event) + "\n")
                    events += 1
                    if event.key != last_key:  # streams come whole, one after the other
                        streams += 1
                        last_key = event.key
        except OSError as error:
            raise OutputError(cannot_write(output, error)) from None
    typer.echo(
        f"exported {plural(streams, 'stream')}, {plural(events, 'event')} of {definition.category}",
        err=True,
    )
