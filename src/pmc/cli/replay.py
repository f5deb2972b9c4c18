"""``pmc replay``: fold recorded streams with the current process; the CI guard before a deploy."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from pmc.cli.shared import (
    EXIT_FAILED,
    KeysOption,
    OutputFormat,
    TargetArgument,
    UsageError,
    app,
    emit_diagnostics,
    print_note,
    resolve,
)
from pmc.cli.stores import STORE_ENV, check_keys, existing_store, safe_url
from pmc.diagnostics import Diagnostic, has_errors
from pmc.diagnostics.render import DiagnosticReport, diagnostic_json, json_text, plural
from pmc.errors import InputError
from pmc.runtime import ProcessDefinition
from pmc.source import SourceFile, Span
from pmc.streams.export import ExportFormatError, read_json_lines
from pmc.streams.replay import ReplayReport, Stream, group_streams, replay, store_streams


@app.command("replay")
def replay_command(
    target: TargetArgument,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Read the streams from this store (sqlite:///path.db, postgresql://...); "
            f"default: ${STORE_ENV}, unless --from-jsonl is given.",
        ),
    ] = None,
    from_jsonl: Annotated[
        str | None,
        typer.Option(
            "--from-jsonl",
            help="Read the streams from a `pmc export` file (`-` for stdin).",
            metavar="FILE",
        ),
    ] = None,
    keys: KeysOption = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="How to print findings.")
    ] = OutputFormat.TEXT,
    require_streams: Annotated[
        bool,
        typer.Option(
            "--require-streams",
            help="Exit 1 when there is no stream to replay (an empty or truncated export).",
        ),
    ] = False,
) -> None:
    """Fold every recorded stream with the current process; exit 1 if any cannot be replayed."""
    if store is not None and from_jsonl is not None:
        raise UsageError("give only one of --store URL and --from-jsonl FILE")
    if store is None and from_jsonl is None:
        # $PMC_STORE is only a default: an explicit --from-jsonl wins over it.
        store = os.environ.get(STORE_ENV) or None
        if store is None:
            raise UsageError(f"give --store URL (or set ${STORE_ENV}) or --from-jsonl FILE")
    definition = resolve(target)
    if from_jsonl is not None:
        report = replay(definition, streams_from_file(from_jsonl, keys or ()))
    else:
        assert store is not None  # exactly one source, checked above
        report = replay_store(definition, store, keys or ())
    source = from_jsonl if from_jsonl is not None else safe_url(store or "")
    missing = None if report.streams else no_streams(definition.category, source, require_streams)
    emit(report, missing, output_format)
    if not report.ok or (missing is not None and has_errors(missing.diagnostics)):
        raise typer.Exit(EXIT_FAILED)


def replay_store(definition: ProcessDefinition, url: str, keys: Sequence[str]) -> ReplayReport:
    """Replay straight from a store, one stream in memory at a time."""
    with existing_store(url) as process_store:
        if keys:
            check_keys(process_store, definition.category, keys)
        streams = store_streams(process_store, definition.category, keys or None)
        return replay(definition, streams)


def streams_from_file(path: str, keys: Sequence[str]) -> list[Stream]:
    try:
        if path == "-":
            events = list(read_json_lines(sys.stdin))
        else:
            with Path(path).open(encoding="utf-8") as lines:
                events = list(read_json_lines(lines))
    except ExportFormatError as error:
        raise InputError(f"{path}:{error.line}: not an exported event: {error.reason}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"cannot read `{path}`: not valid UTF-8 (byte {error.start})") from None
    except OSError as error:
        raise InputError(f"cannot read `{path}`: {error.strerror or error}") from None
    streams = group_streams(events)
    if not keys:
        return streams
    found = {stream.key for stream in streams}
    missing = [key for key in keys if key not in found]
    if missing:
        raise InputError(f"no stream {', '.join(f'`{k}`' for k in missing)} in `{path}`")
    return [stream for stream in streams if stream.key in keys]


def no_streams(category: str, source: str, require_streams: bool) -> DiagnosticReport:
    """There is nothing to replay in ``source``: a warning, an error with --require-streams.

    Located at the input's start, as an input that cannot be read is (PM0007).
    """
    rule = "REPLAY_STREAMS_REQUIRED" if require_streams else "REPLAY_NO_STREAMS"
    finding = Diagnostic(rule, f"no streams of `{category}` to replay", Span.point(1, 1))
    return DiagnosticReport(SourceFile(source, ""), (finding,))


def emit(
    report: ReplayReport, missing: DiagnosticReport | None, output_format: OutputFormat
) -> None:
    """Where ``pmc check`` prints (:func:`emit_diagnostics`), with replay's JSON and summary.

    ``concise`` is ``text`` without the summary line. In text, "no streams"
    is one line, ``warning: ...`` or ``error: ...``: it is about the whole
    input, with no line to show.
    """
    reports = [findings_report(report)]
    if missing is not None and output_format in (OutputFormat.TEXT, OutputFormat.CONCISE):
        for finding in missing.diagnostics:
            print_note(f"{finding.severity}: {finding.message}")
    elif missing is not None:
        reports.append(missing)
    emit_diagnostics(
        reports,
        output_format,
        document=render_json(report, missing),
        summary=f"replayed {summary_line(report)}",
    )


def findings_report(report: ReplayReport) -> DiagnosticReport:
    """The findings, for the renderers every command shares (:mod:`pmc.diagnostics.render`)."""
    return DiagnosticReport(None, report.findings)


def render_json(report: ReplayReport, missing: DiagnosticReport | None = None) -> str:
    """The summary counts, and every finding as ``pmc check --format json`` shows one."""
    also = (
        [] if missing is None else [diagnostic_json(missing.source, d) for d in missing.diagnostics]
    )
    return json_text(
        {
            "streams": len(report.streams),
            "events": report.events,
            "failures": report.failures,
            "findings": [diagnostic_json(None, f) for f in report.findings] + also,
        }
    )


def summary_line(report: ReplayReport) -> str:
    """``3 streams, 42 events, 1 failure``: failures count streams, not findings."""
    return ", ".join(
        [
            plural(len(report.streams), "stream"),
            plural(report.events, "event"),
            plural(report.failures, "failure"),
        ]
    )
