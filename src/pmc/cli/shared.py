"""The ``pmc`` typer application and what its commands share.

The CLI is the only layer that prints or exits. Each command lives in its own
module of this package and registers itself on :data:`app`. A command that
cannot go on raises a :class:`~pmc.errors.PmcError` (:class:`UsageError`,
:class:`~pmc.errors.InputError`, ...); the app prints it and exits 2, in one
place (:class:`_Commands`).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from pmc import __version__
from pmc.diagnostics import Diagnostic, Severity
from pmc.diagnostics.render import (
    DiagnosticReport,
    escape_text,
    render_concise,
    render_github,
    render_json,
    render_text,
    summary_line,
)
from pmc.errors import InputError, PmcError
from pmc.source import SourceFile, Span
from pmc.syntax.parser import MAX_SOURCE_BYTES

if TYPE_CHECKING:
    # Where click's Context lives depends on the typer version (recent ones
    # vendor click): only the type checker looks it up.
    from typer._click import Context

    from pmc.runtime import ProcessDefinition

# SPEC §5: 0 clean, 1 what a command checks was found wanting, 2 usage or I/O error.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(PmcError):
    """Arguments that cannot work together, or that name something unusable.

    ``help`` is printed under the error as ``help: ...`` (a did-you-mean).
    """

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.help = help


class OutputError(PmcError):
    """A file the command was asked to write cannot be written."""


class _Commands(TyperGroup):
    """The app's command group: where every error a command raises becomes an exit code.

    A :class:`~pmc.errors.PmcError` is a usage or I/O error (exit 2), printed
    as ``error: message`` (then ``help: ...`` for a :class:`UsageError` with
    a help). Exit 1 is not an error raised: it is what a
    command found (diagnostics, a stale module, a stream that does not
    replay), and the command exits with it itself.
    """

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except PmcError as error:
            print_error(str(error))
            if isinstance(error, UsageError) and error.help:
                print_note(f"help: {error.help}")
            raise typer.Exit(EXIT_USAGE) from None


app = typer.Typer(
    name="pmc",
    cls=_Commands,
    help="Compiler for event-sourced process managers.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class OutputFormat(StrEnum):
    TEXT = "text"
    CONCISE = "concise"
    JSON = "json"
    GITHUB = "github"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pmc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Compile .pm process definitions into typed Python process managers."""


def read_source(path: str, stdin_filename: str | None) -> SourceFile:
    """Read ``path`` (``-`` for stdin) as UTF-8, or raise :class:`InputError`.

    At most ``MAX_SOURCE_BYTES + 1`` bytes are read, from a file, a device or a
    pipe alike (``stat`` says nothing about ``/dev/zero`` or a pipe): a longer
    input comes back ``truncated``, and the parser reports it as too large
    (PM0005) at once instead of reading it to the end.
    """
    if path == "-":
        data = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1)
        display = stdin_filename or "<stdin>"
    else:
        display = path
        try:
            with open(path, "rb") as stream:
                data = stream.read(MAX_SOURCE_BYTES + 1)
        except IsADirectoryError:
            raise InputError(f"cannot read `{path}`: it is a directory", path) from None
        except OSError as error:
            message = f"cannot read `{path}`: {error.strerror or error}"
            raise InputError(message, path) from None
    if len(data) > MAX_SOURCE_BYTES:
        # Only the first line is kept, to show under the diagnostic; a file
        # cut anywhere may end inside a character, hence `replace`.
        first_line = data[:MAX_SOURCE_BYTES].split(b"\n", 1)[0]
        text = first_line.decode("utf-8", errors="replace").removeprefix("\ufeff")
        return SourceFile(display, text, truncated=True)
    return decode_source(display, data)


def decode_source(display: str, data: bytes) -> SourceFile:
    """``data`` as a source file, or :class:`InputError` saying where it is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"cannot read `{display}`: {_not_utf8(data, error)}"
        raise InputError(message, display) from None
    return SourceFile(display, text.removeprefix("\ufeff"))


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    """Where decoding failed, as line and column like a diagnostic's, and the byte."""
    before = data[: error.start].decode("utf-8").removeprefix("\ufeff")
    source = SourceFile("", before)  # lines counted as the parser counts them
    line, column = source.position(len(source.text))
    return (
        f"not valid UTF-8 at line {line}, column {column}"
        f" (byte 0x{data[error.start]:02x} at offset {error.start})"
    )


def check_stdin_usage(files: Sequence[str], stdin_filename: str | None) -> None:
    """Raise :class:`UsageError` if ``files`` and ``--stdin-filename`` do not go together."""
    if files.count("-") > 1:
        raise UsageError("`-` (stdin) may be given only once: stdin can be read only once")
    if stdin_filename is not None and "-" not in files:
        raise UsageError("`--stdin-filename` names stdin, but `-` is not among the files")


def cannot_write(path: object, error: OSError) -> str:
    """The message for an output file that could not be written."""
    return f"cannot write `{path}`: {error.strerror or error}"


# Every message the CLI prints goes through these two: paths, arguments and
# names in it are untrusted, so unsafe characters (ESC, bidi controls) are
# escaped as in diagnostics (see `escape_text`).


def print_error(message: str) -> None:
    """``error: message`` on stderr, unsafe characters escaped."""
    typer.echo(f"error: {escape_text(message)}", err=True)


def print_note(message: str) -> None:
    """A message that is not an error on stderr, unsafe characters escaped."""
    typer.echo(escape_text(message), err=True)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file that could not be read, its error printed; for ``json`` and ``github``, as PM0007."""

    report: DiagnosticReport | None


def read_or_report(
    path: str, stdin_filename: str | None, output_format: OutputFormat
) -> SourceFile | Unreadable:
    """``path`` read, or the error printed: commands on several files go on with the others."""
    try:
        return read_source(path, stdin_filename)
    except InputError as error:
        print_error(str(error))
        return Unreadable(input_error_report(error, path) if structured(output_format) else None)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    reports: tuple[DiagnosticReport, ...]
    io_failed: bool


def input_error_report(error: InputError, path: str) -> DiagnosticReport:
    """An input that cannot be read, as a diagnostic (PM0007) at its line 1.

    ``json`` and ``github`` output is read by programs: an input left out of
    it would read as an input without findings.
    """
    display = error.path if error.path is not None else path
    diagnostic = Diagnostic("PM0007", str(error), Span.point(1, 1))
    return DiagnosticReport(SourceFile(display, ""), (diagnostic,))


def structured(output_format: OutputFormat) -> bool:
    """Whether ``output_format`` is read by programs (and so reports input errors)."""
    return output_format in (OutputFormat.JSON, OutputFormat.GITHUB)


def check_files(
    files: Sequence[str], stdin_filename: str | None, output_format: OutputFormat
) -> CheckOutcome:
    # Imported here, not above: `pmc fmt` shares this module and needs no semantics.
    from pmc.compiler import check_source

    reports = []
    io_failed = False
    for path in files:
        read = read_or_report(path, stdin_filename, output_format)
        if isinstance(read, Unreadable):
            io_failed = True
            if read.report is not None:
                reports.append(read.report)
            continue
        reports.append(DiagnosticReport(read, check_source(read).diagnostics))
    return CheckOutcome(tuple(reports), io_failed)


def emit_diagnostics(
    reports: Sequence[DiagnosticReport],
    output_format: OutputFormat,
    *,
    document: str | None = None,
    summary: str | None = None,
) -> None:
    """Print diagnostics: JSON and GitHub annotations to stdout, text and concise to stderr.

    GitHub Actions reads workflow commands (``::error ...::``) only from stdout.
    A command with its own JSON ``document`` or ``summary`` line (``pmc
    replay`` counts streams) passes them; its summary goes to stderr after
    text and GitHub output alike. By default the JSON lists the reports and
    text ends with the count of diagnostics.
    """
    if output_format is OutputFormat.JSON:
        sys.stdout.write(render_json(reports) if document is None else document)
        return
    if output_format is OutputFormat.GITHUB:
        for report in reports:
            sys.stdout.write(render_github(report))
    else:
        render = render_text if output_format is OutputFormat.TEXT else render_concise
        for report in reports:
            sys.stderr.write(render(report))
    if output_format is OutputFormat.CONCISE:
        return
    if summary is not None:
        sys.stderr.write(f"{summary}\n")
    elif output_format is OutputFormat.TEXT and any(r.diagnostics for r in reports):
        sys.stderr.write(f"{summary_line(reports)} emitted\n")


def failed(reports: Sequence[DiagnosticReport], strict: bool) -> bool:
    failing = {Severity.ERROR, Severity.WARNING} if strict else {Severity.ERROR}
    return any(d.severity in failing for r in reports for d in r.diagnostics)


FilesArgument = Annotated[
    list[str], typer.Argument(help="`.pm` files; `-` reads stdin.", metavar="FILE...")
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="How to print diagnostics.")]
StdinFilenameOption = Annotated[
    str | None, typer.Option("--stdin-filename", help="Name to report for `-`.")
]

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
    # Imported here, not above: the runtime brings pydantic, event-sourcery and
    # SQLAlchemy, which `pmc check` and `pmc fmt` must not wait for.
    from pmc.runtime.loading import load_process

    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return load_process(target)


_T = TypeVar("_T")


def _guarded(run: Callable[[], _T]) -> _T:
    """Run the CLI; an unexpected exception is an internal error (exit 2), not a traceback."""
    try:
        return run()
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)
    except Exception as exc:  # the last line of defence
        if os.environ.get("PMC_DEBUG"):
            traceback.print_exc()
        print_error(f"internal error: {type(exc).__name__}: {exc}")
        print_error("this is a bug in pmc; rerun with PMC_DEBUG=1 for a traceback and report it")
        sys.exit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    _guarded(lambda: app(args=args, prog_name="pmc", standalone_mode=True))
    sys.exit(EXIT_OK)  # pragma: no cover - typer always exits in standalone mode
