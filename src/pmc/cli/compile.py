"""``pmc compile``: generate the Python module of each .pm file."""

from __future__ import annotations

import keyword
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
    UsageError,
    app,
    cannot_write,
    check_stdin_usage,
    emit_diagnostics,
    print_error,
    print_note,
    read_or_report,
)
from pmc.codegen.emit import NotGeneratedError, compare, write_generated
from pmc.compiler import CompileResult, compile_source
from pmc.diagnostics import has_errors
from pmc.diagnostics.render import DiagnosticReport
from pmc.errors import InputError
from pmc.source import SourceFile


@dataclass(frozen=True, slots=True)
class _Planned:
    """One source and where its module goes (None: standard output)."""

    source: SourceFile
    target: Path | None
    text: str


def output_path(source_path: str, output: str | None, many: bool) -> Path | None:
    """Where the module of ``source_path`` is written.

    Default: ``name.py`` beside ``name.pm``. ``-o DIR`` (an existing directory,
    or a path ending in ``/``) puts ``name.py`` in DIR; ``-o FILE`` names the
    file and works with one input only. Stdin without ``-o`` goes to stdout.
    Nothing is ever written anywhere else.
    """
    is_dir = output is not None and (Path(output).is_dir() or output.endswith(("/", "\\")))
    if output is not None and not is_dir:
        if many:
            raise UsageError(f"with several files, `-o {output}` must be a directory")
        return Path(output)
    if source_path == "-":
        if output is None:
            return None
        raise UsageError("reading stdin, `-o` must name the output file, not a directory")
    module_name = Path(source_path).with_suffix(".py").name
    if output is not None:
        return Path(output) / module_name
    return Path(source_path).with_suffix(".py")


@app.command("compile")
def compile_(
    files: FilesArgument,
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", help="Output file, or directory for several files."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if a module is missing or stale."),
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print a unified diff; exit 1 if any.")
    ] = False,
    output_format: FormatOption = OutputFormat.TEXT,
    stdin_filename: StdinFilenameOption = None,
) -> None:
    """Check .pm files and generate their Python modules.

    Nothing is written while any file has errors.
    """
    check_stdin_usage(files, stdin_filename)
    compiled = [
        read if isinstance(read, Unreadable) else compile_source(read)
        for read in (read_or_report(path, stdin_filename, output_format) for path in files)
    ]
    reports = [report for report in map(_report, compiled) if report is not None]
    if reports:
        emit_diagnostics(reports, output_format)
    if any(isinstance(item, Unreadable) for item in compiled):
        raise typer.Exit(EXIT_USAGE)
    if any(has_errors(report.diagnostics) for report in reports):
        raise typer.Exit(EXIT_FAILED)
    planned = [
        _Planned(item.source, output_path(path, output, many=len(files) > 1), item.code)
        for path, item in zip(files, compiled, strict=True)
        if isinstance(item, CompileResult) and item.code is not None
    ]
    _check_targets(planned, comparing=check or diff)
    _check_module_names(planned)
    if check or diff:
        raise typer.Exit(_compare_all(planned, output, show_diff=diff))
    raise typer.Exit(_write_all(planned))


def _report(item: CompileResult | Unreadable) -> DiagnosticReport | None:
    """What to print about one file, if anything."""
    if isinstance(item, Unreadable):
        return item.report
    return DiagnosticReport(item.source, item.diagnostics) if item.diagnostics else None


def _check_targets(planned: list[_Planned], comparing: bool) -> None:
    """Refuse what would lose output: two sources to one file, or stdout with --check."""
    seen: dict[Path, str] = {}
    for item in planned:
        if item.target is None:
            if comparing:
                raise UsageError("`--check` and `--diff` on stdin need `-o` naming the module")
            continue
        resolved = item.target.resolve()
        if resolved in seen:
            raise UsageError(
                f"`{seen[resolved]}` and `{item.source.path}` would both be written"
                f" to `{item.target}`"
            )
        seen[resolved] = item.source.path


def module_name_problem(target: Path) -> str | None:
    """Why ``import <stem>`` of the module written to ``target`` cannot work, or None."""
    name = target.stem
    if target.suffix != ".py":
        return None  # not a module file: the user writes it for something else
    if not name.isidentifier():
        return f"`{name}` is not a Python identifier"
    if keyword.iskeyword(name):
        return f"`{name}` is a Python keyword"
    if name in sys.stdlib_module_names:
        return f"it would shadow the standard library's module `{name}`"
    if name in SHADOWED_MODULES:
        return f"it would shadow the module `{name}` that the generated code needs"
    return None


# The third-party modules a generated module imports, directly or through
# `pmc.runtime`: a module of the same name written next to it (the directory
# of a script comes first on `sys.path`) would be imported in their place.
# Standard-library modules (`sys.stdlib_module_names`, `__future__` among them)
# are refused too. See docs/design.md, "Names".
SHADOWED_MODULES = frozenset(
    {"pmc", "event_sourcery", "pydantic", "pydantic_core", "sqlalchemy", "typing_extensions"}
)


def _check_module_names(planned: list[_Planned]) -> None:
    """Refuse to write a module that no ``import`` statement can name (``class.py``, ``a-b.py``)."""
    for item in planned:
        if item.target is None:
            continue
        problem = module_name_problem(item.target)
        if problem is not None:
            raise UsageError(
                f"`{item.target.name}` could not be imported ({problem}); rename"
                f" `{item.source.path}` or choose the module's name with `-o NAME.py`"
            )


def _compare_all(planned: list[_Planned], output: str | None, show_diff: bool) -> int:
    differs = False
    for item in planned:
        assert item.target is not None  # _check_targets refuses stdout here
        try:
            result = compare(item.target, item.text)
        except OSError as error:
            raise InputError(f"cannot read `{item.target}`: {error.strerror or error}") from None
        if result.differs:
            differs = True
            fix = f"pmc compile {item.source.path}" + (f" -o {output}" if output else "")
            print_note(f"{item.target} is {result.status} (from {item.source.path}); run `{fix}`")
            if show_diff:
                sys.stdout.write(result.diff)
    return EXIT_FAILED if differs else 0


def _write_all(planned: list[_Planned]) -> int:
    status = 0
    for item in planned:
        if item.target is None:
            sys.stdout.write(item.text)
            continue
        try:
            item.target.parent.mkdir(parents=True, exist_ok=True)
            changed = write_generated(item.target, item.text)
        except NotGeneratedError as error:
            print_error(str(error))
            status = max(status, EXIT_FAILED)
            continue
        except OSError as error:
            print_error(cannot_write(item.target, error))
            status = EXIT_USAGE
            continue
        if changed:
            print_note(f"compiled {item.source.path} -> {item.target}")
    return status
