"""``pmc check``: parse and validate."""

from __future__ import annotations

from typing import Annotated

import typer

from pmc.cli.shared import (
    EXIT_FAILED,
    EXIT_USAGE,
    FilesArgument,
    FormatOption,
    OutputFormat,
    StdinFilenameOption,
    app,
    check_files,
    check_stdin_usage,
    emit_diagnostics,
    failed,
)


@app.command()
def check(
    files: FilesArgument,
    output_format: FormatOption = OutputFormat.TEXT,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
    stdin_filename: StdinFilenameOption = None,
) -> None:
    """Parse and validate .pm files."""
    check_stdin_usage(files, stdin_filename)
    outcome = check_files(files, stdin_filename, output_format)
    emit_diagnostics(outcome.reports, output_format)
    if outcome.io_failed:
        raise typer.Exit(EXIT_USAGE)
    if failed(outcome.reports, strict):
        raise typer.Exit(EXIT_FAILED)
