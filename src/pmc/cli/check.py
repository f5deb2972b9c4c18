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
    emit_diagnostics,
    failed,
    print_error,
    stdin_usage_error,
)


@app.command()
def check(
    files: FilesArgument,
    output_format: FormatOption = OutputFormat.TEXT,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
    stdin_filename: StdinFilenameOption = None,
) -> None:
    """Parse and validate .pm files."""
    usage_error = stdin_usage_error(files, stdin_filename)
    if usage_error is not None:
        print_error(usage_error)
        raise typer.Exit(EXIT_USAGE)
    outcome = check_files(files, stdin_filename, output_format)
    emit_diagnostics(outcome.reports, output_format)
    if outcome.io_failed:
        raise typer.Exit(EXIT_USAGE)
    if failed(outcome.reports, strict):
        raise typer.Exit(EXIT_FAILED)
