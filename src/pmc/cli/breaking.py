"""``pmc breaking``: refuse a change that would break replay of recorded streams."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Sequence
from typing import Annotated

import typer

from pmc.cli.shared import (
    EXIT_FAILED,
    FormatOption,
    OutputFormat,
    app,
    decode_source,
    emit_diagnostics,
    failed,
    input_error_report,
    read_source,
    structured,
)
from pmc.compiler import CheckResult, check_source
from pmc.diagnostics import has_errors
from pmc.diagnostics.render import DiagnosticReport
from pmc.errors import InputError
from pmc.source import SourceFile
from pmc.tools.breaking import Finding, Side, compare

GIT_PREFIX = "git:"


def parse_git_spec(spec: str) -> tuple[str, str] | None:
    """``git:REF:PATH`` -> ``(REF, PATH)``; None for a plain path.

    Git forbids `:` in ref names, so the first colon after the prefix ends REF.
    """
    if not spec.startswith(GIT_PREFIX):
        return None
    ref, colon, path = spec.removeprefix(GIT_PREFIX).partition(":")
    if not ref or not colon or not path:
        raise InputError(f"`{spec}` is not of the form git:REF:PATH (e.g. git:main:orders.pm)")
    return ref, path


def read_git(spec: str, ref: str, path: str) -> SourceFile:
    """``git show REF:PATH`` in the current directory's repository."""
    try:
        completed = subprocess.run(
            ["git", "show", f"{ref}:{path}"], capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise InputError(f"cannot read `{spec}`: git is not installed") from None
    if completed.returncode != 0:
        reason = completed.stderr.decode("utf-8", "replace").strip() or "git show failed"
        raise InputError(f"cannot read `{spec}`: {reason}")
    return decode_source(spec, completed.stdout)


def read_against(spec: str) -> SourceFile:
    git = parse_git_spec(spec)
    return read_source(spec, None) if git is None else read_git(spec, *git)


def report(
    new: CheckResult, old: CheckResult, findings: Sequence[Finding]
) -> tuple[DiagnosticReport, ...]:
    """Findings grouped by the file they point into, new file first, each in line order."""
    reports = []
    for side, result in ((Side.NEW, new), (Side.OLD, old)):
        found = sorted((f.diagnostic for f in findings if f.side is side), key=lambda d: d.sort_key)
        if found:
            reports.append(DiagnosticReport(result.source, tuple(found)))
    return tuple(reports)


def annotations_report(
    new: CheckResult, findings: Sequence[Finding], ref: str
) -> tuple[DiagnosticReport, ...]:
    """Every finding located in the new file, for GitHub annotations.

    The old version read from ``git:REF:PATH`` is no file of the pull request,
    so an annotation there would attach to nothing. A finding in the old file
    points at its anchor in the new one instead, and says where it was.
    """
    moved = [
        f.diagnostic
        if f.anchor is None
        else dataclasses.replace(
            f.diagnostic,
            location=f.anchor,
            message=f"{f.diagnostic.message} (was at line {f.diagnostic.span.line} of {ref})",
        )
        for f in findings
    ]
    found = tuple(sorted(moved, key=lambda f: f.sort_key))
    return (DiagnosticReport(new.source, found),) if found else ()


def _read(spec: str, read: Callable[[str], SourceFile], output_format: OutputFormat) -> SourceFile:
    """``read(spec)``; an input that cannot be read is a finding too in ``json`` and ``github``."""
    try:
        return read(spec)
    except InputError as error:
        if structured(output_format):
            emit_diagnostics([input_error_report(error, spec)], output_format)
        raise


@app.command()
def breaking(
    file: Annotated[str, typer.Argument(help="The new version of the `.pm` file.", metavar="FILE")],
    against: Annotated[
        str,
        typer.Option(
            "--against",
            help="The old version: a path, or git:REF:PATH read with `git show`.",
            metavar="OLD",
        ),
    ],
    output_format: FormatOption = OutputFormat.TEXT,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings (such as TASK_MODE_SAME) fail too.")
    ] = False,
) -> None:
    """Report changes that would break replay of streams recorded with the old version."""
    new_source = _read(file, lambda path: read_source(path, None), output_format)
    old_source = _read(against, read_against, output_format)
    new, old = check_source(new_source), check_source(old_source)
    invalid = [r for r in (new, old) if has_errors(r.diagnostics)]
    if invalid:
        emit_diagnostics(
            [DiagnosticReport(r.source, r.diagnostics) for r in invalid], output_format
        )
        raise InputError("fix the errors above first: only valid versions can be compared")
    assert new.model and old.model  # no errors: both built
    findings = compare(old.model, new.model)
    git = parse_git_spec(against)
    if output_format is OutputFormat.GITHUB and git is not None:
        reports = annotations_report(new, findings, git[0])
    else:
        reports = report(new, old, findings)
    emit_diagnostics(reports, output_format)
    if failed(reports, strict):
        raise typer.Exit(EXIT_FAILED)
