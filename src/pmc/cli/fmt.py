"""``pmc fmt``: rewrite .pm files in the canonical style (docs/style.md)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from pmc.cli.shared import (
    EXIT_FAILED,
    EXIT_USAGE,
    FilesArgument,
    FormatOption,
    OutputFormat,
    StdinFilenameOption,
    Unreadable,
    app,
    cannot_write,
    check_stdin_usage,
    emit_diagnostics,
    print_error,
    print_note,
    read_or_report,
)
from pmc.diagnostics.render import DiagnosticReport, escape_text
from pmc.files import unified_diff, write_atomically
from pmc.tools.fmt import format_source

CheckOption = Annotated[
    bool,
    typer.Option("--check", help="Write nothing; list the files that would change and exit 1."),
]
DiffOption = Annotated[
    bool,
    typer.Option("--diff", help="Write nothing; print a unified diff and exit 1 if any."),
]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What happened to one file; the command sums these up into an exit code."""

    changed: bool = False
    io_failed: bool = False
    report: DiagnosticReport | None = None


@app.command("fmt")
def fmt(
    files: FilesArgument,
    check: CheckOption = False,
    diff: DiffOption = False,
    output_format: FormatOption = OutputFormat.TEXT,
    stdin_filename: StdinFilenameOption = None,
) -> None:
    """Format .pm files in place; `-` formats stdin to stdout.

    A file with syntax errors is left untouched and its diagnostics are printed
    as `pmc check` prints them (exit 1).
    """
    check_stdin_usage(files, stdin_filename)
    dry_run = check or diff
    outcomes = [_format_one(path, stdin_filename, dry_run, diff, output_format) for path in files]
    reports = [o.report for o in outcomes if o.report is not None]
    if reports:
        emit_diagnostics(reports, output_format)
    if any(o.io_failed for o in outcomes):
        raise typer.Exit(EXIT_USAGE)
    if reports or (dry_run and any(o.changed for o in outcomes)):
        raise typer.Exit(EXIT_FAILED)


def _format_one(
    path: str, stdin_filename: str | None, dry_run: bool, diff: bool, output_format: OutputFormat
) -> _Outcome:
    source = read_or_report(path, stdin_filename, output_format)
    if isinstance(source, Unreadable):
        return _Outcome(io_failed=True, report=source.report)
    result = format_source(source)
    if result.text is None:
        return _Outcome(report=DiagnosticReport(source, result.diagnostics))
    # A file written with CRLF or CR line endings is rewritten with LF ones.
    changed = result.text != source.text or source.line_endings_normalized
    if diff:
        sys.stdout.write(
            unified_diff(
                source.text,
                result.text,
                f"{escape_text(source.path)} (original)",
                f"{escape_text(source.path)} (formatted)",
            )
        )
    if dry_run:
        if changed:
            print_note(f"would reformat {source.path}")
        return _Outcome(changed=changed)
    if path == "-":
        sys.stdout.write(result.text)
        return _Outcome(changed=changed)
    if changed:
        try:
            write_atomically(Path(path), result.text)
        except OSError as error:
            print_error(cannot_write(path, error))
            return _Outcome(io_failed=True)
        print_note(f"reformatted {source.path}")
    return _Outcome(changed=changed)
