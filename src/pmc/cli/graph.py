"""``pmc graph``: draw the machines of a process."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pmc.cli.shared import (
    EXIT_FAILED,
    OutputError,
    OutputFormat,
    app,
    cannot_write,
    emit_diagnostics,
    read_source,
)
from pmc.compiler import check_source
from pmc.diagnostics import has_errors
from pmc.diagnostics.render import DiagnosticReport
from pmc.files import write_atomically
from pmc.tools.graph import render_dot, render_mermaid


class GraphFormat(StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"


@app.command()
def graph(
    file: Annotated[str, typer.Argument(help="A `.pm` file; `-` reads stdin.", metavar="FILE")],
    graph_format: Annotated[
        GraphFormat, typer.Option("--format", help="Mermaid stateDiagram-v2 or Graphviz DOT.")
    ] = GraphFormat.MERMAID,
    machine: Annotated[
        str | None, typer.Option("--machine", help="Draw only this machine.", metavar="NAME")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write here instead of stdout.", metavar="PATH"),
    ] = None,
) -> None:
    """Draw each machine of a process as a state diagram."""
    source = read_source(file, None)
    result = check_source(source)
    if result.model is None or has_errors(result.diagnostics):
        # `--format` names the diagram format here, so diagnostics print as text.
        emit_diagnostics([DiagnosticReport(source, result.diagnostics)], OutputFormat.TEXT)
        raise typer.Exit(EXIT_FAILED)
    render = render_dot if graph_format is GraphFormat.DOT else render_mermaid
    text = render(result.model, machine)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)  # as `pmc compile -o` does
        write_atomically(output, text)
    except OSError as error:
        raise OutputError(cannot_write(output, error)) from None
