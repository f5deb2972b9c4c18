"""``pmc check``: output streams, formats and exit codes (0 clean, 1 errors, 2 usage/I-O)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmc.syntax.parser import MAX_SOURCE_BYTES
from tests.cli.conftest import EXAMPLES, PmcRunner

BROKEN = """process P {
    machine M {
        transition a X -> Y on E
    }
}
"""

WARNING_ONLY = """process P {
    key id
    event Started { id: str }
    event Unused { id: str }
    machine M {
        states A, B
        initial A
        final B
        transition go: A -> B on Started
    }
}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_clean_file_exits_zero_silently(pmc: PmcRunner) -> None:
    run = pmc("check", str(EXAMPLES / "rebase_cleanup.pm"))
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")


def test_errors_go_to_stderr_in_rustc_style(pmc: PmcRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.pm", BROKEN)
    run = pmc("check", path.name)
    assert run.exit_code == 1
    assert run.stdout == ""
    assert "error[PM0001]: " in run.stderr
    assert " --> broken.pm:3:21" in run.stderr
    assert "3 |         transition a X -> Y on E\n" in run.stderr
    assert "  |                     ^ " in run.stderr
    assert run.stderr.endswith("1 error, 0 warnings emitted\n")


def test_json_goes_to_stdout(pmc: PmcRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.pm", BROKEN)
    run = pmc("check", "--format", "json", path.name)
    assert run.exit_code == 1
    assert run.stderr == ""
    [item] = json.loads(run.stdout)
    assert item["path"] == "broken.pm"
    assert item["code"] == "PM0001"
    assert item["severity"] == "error"
    assert item["span"]["line"] == 3


def test_concise_and_github_formats(pmc: PmcRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.pm", BROKEN)
    concise = pmc("check", "--format", "concise", path.name)
    assert concise.stderr.startswith("broken.pm:3:21: error[PM0001]: ")
    github = pmc("check", "--format", "github", path.name)
    # GitHub Actions reads workflow commands from stdout only.
    assert github.stdout.startswith("::error file=broken.pm,line=3,col=21,")
    assert github.stderr == ""
    assert concise.exit_code == github.exit_code == 1


def test_warnings_pass_unless_strict(pmc: PmcRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, "warn.pm", WARNING_ONLY)
    relaxed = pmc("check", path.name)
    assert relaxed.exit_code == 0
    assert "warning[PM0901]" in relaxed.stderr
    assert pmc("check", "--strict", path.name).exit_code == 1


def test_every_file_is_checked_in_one_run(pmc: PmcRunner, tmp_path: Path) -> None:
    first = _write(tmp_path, "a.pm", BROKEN)
    second = _write(tmp_path, "b.pm", BROKEN)
    run = pmc("check", "--format", "concise", first.name, second.name)
    assert run.exit_code == 1
    assert run.stderr.count("error[PM0001]") == 2


def test_stdin_with_a_display_name(pmc: PmcRunner) -> None:
    run = pmc("check", "-", "--stdin-filename", "from_stdin.pm", stdin=BROKEN)
    assert run.exit_code == 1
    assert " --> from_stdin.pm:3:21" in run.stderr


def test_invalid_utf8_is_located_by_line_and_column(pmc: PmcRunner, tmp_path: Path) -> None:
    # A BOM, CRLF line ends and a two-byte character before the bad byte:
    # lines and columns count as in diagnostics (characters, not bytes).
    data = "\ufeffprocess P {\r\n  key k\r\n  # é \xff\n".encode() + b"\xc3\x28 }\n"
    (tmp_path / "bad.pm").write_bytes(data.replace("\xff".encode(), b""))
    run = pmc("check", "bad.pm")
    assert run.exit_code == 2
    offset = data.replace("\xff".encode(), b"").index(b"\xc3\x28")
    assert run.stderr == (
        "error: cannot read `bad.pm`: not valid UTF-8 at line 4, column 1"
        f" (byte 0xc3 at offset {offset})\n"
    )
    (tmp_path / "old.pm").write_bytes(b"process P {\n  key \xff }\n")
    (tmp_path / "new.pm").write_bytes(b"process P {}\n")
    run = pmc("breaking", "new.pm", "--against", "old.pm")
    assert "cannot read `old.pm`: not valid UTF-8 at line 2, column 7" in run.stderr


def test_missing_file_is_an_io_error(pmc: PmcRunner) -> None:
    run = pmc("check", "does_not_exist.pm")
    assert run.exit_code == 2
    assert run.stderr == "error: cannot read `does_not_exist.pm`: No such file or directory\n"


def test_directory_and_binary_files_are_io_errors(pmc: PmcRunner, tmp_path: Path) -> None:
    (tmp_path / "binary.pm").write_bytes(b"process \xff\xfe {")
    (tmp_path / "folder.pm").mkdir()
    run = pmc("check", "binary.pm", "folder.pm")
    assert run.exit_code == 2
    assert (
        "cannot read `binary.pm`: not valid UTF-8 at line 1, column 9 (byte 0xff at offset 8)"
        in run.stderr
    )
    assert "cannot read `folder.pm`: it is a directory" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("command", ["check", "compile", "fmt"])
def test_an_unreadable_file_is_a_finding_in_json_and_github_output(
    pmc: PmcRunner, tmp_path: Path, command: str
) -> None:
    """A program reading stdout must not take an unreadable file for one without findings."""
    (tmp_path / "binary.pm").write_bytes(b"process \xff\xfe {")
    run = pmc(command, "--format", "json", "binary.pm", "missing.pm")
    assert run.exit_code == 2
    found = [(d["path"], d["code"], d["span"]["line"]) for d in json.loads(run.stdout)]
    assert found == [("binary.pm", "PM0007", 1), ("missing.pm", "PM0007", 1)]
    assert "No such file or directory" in json.loads(run.stdout)[1]["message"]

    run = pmc(command, "--format", "github", "missing.pm")
    assert run.exit_code == 2
    assert run.stdout == (
        "::error file=missing.pm,line=1,col=1,endLine=1,endColumn=2,title=PM0007"
        "::cannot read `missing.pm`: No such file or directory\n"
    )


def test_an_unreadable_version_is_a_finding_of_pmc_breaking_in_json(
    pmc: PmcRunner, tmp_path: Path
) -> None:
    (tmp_path / "new.pm").write_text((EXAMPLES / "rebase_cleanup.pm").read_text())
    run = pmc("breaking", "--format", "json", "new.pm", "--against", "missing.pm")
    assert run.exit_code == 2
    assert [(d["path"], d["code"]) for d in json.loads(run.stdout)] == [("missing.pm", "PM0007")]


def test_io_error_outranks_diagnostics(pmc: PmcRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.pm", BROKEN)
    run = pmc("check", path.name, "missing.pm")
    assert run.exit_code == 2
    assert "error[PM0001]" in run.stderr


def test_usage_errors_exit_two(pmc: PmcRunner) -> None:
    assert pmc("check").exit_code == 2
    assert pmc("check", "--format", "xml", "x.pm").exit_code == 2
    assert pmc("no-such-command").exit_code == 2


def test_version_and_help(pmc: PmcRunner) -> None:
    from pmc import __version__

    version = pmc("--version")
    assert (version.exit_code, version.stdout) == (0, f"pmc {__version__}\n")
    help_text = pmc("--help")
    assert help_text.exit_code == 0
    assert "check" in help_text.stdout


def test_stdin_may_be_named_only_once(pmc: PmcRunner) -> None:
    run = pmc("check", "-", "-", stdin=BROKEN)
    assert run.exit_code == 2
    assert run.stderr == "error: `-` (stdin) may be given only once: stdin can be read only once\n"
    fmt = pmc("fmt", "-", "-", stdin=BROKEN)
    assert fmt.exit_code == 2
    assert "`-` (stdin) may be given only once" in fmt.stderr


def test_stdin_filename_needs_stdin(pmc: PmcRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.pm", BROKEN)
    run = pmc("check", path.name, "--stdin-filename", "x.pm")
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == ("error: `--stdin-filename` names stdin, but `-` is not among the files\n")
    assert pmc("fmt", path.name, "--stdin-filename", "x.pm").exit_code == 2


def test_cr_only_line_endings_are_lines(pmc: PmcRunner, tmp_path: Path) -> None:
    example = (EXAMPLES / "rebase_cleanup.pm").read_text(encoding="utf-8")
    (tmp_path / "cr.pm").write_bytes(example.replace("\n", "\r").encode())
    (tmp_path / "crlf.pm").write_bytes(example.replace("\n", "\r\n").encode())
    assert pmc("check", "cr.pm", "crlf.pm") == pmc("check", str(EXAMPLES / "rebase_cleanup.pm"))
    (tmp_path / "broken.pm").write_bytes(BROKEN.replace("\n", "\r").encode())
    run = pmc("check", "--format", "concise", "broken.pm")
    assert run.stderr.startswith("broken.pm:3:21: error[PM0001]: ")


TOO_LARGE = (
    f"file is too large (more than {MAX_SOURCE_BYTES:,} bytes; the limit is {MAX_SOURCE_BYTES:,})"
)


def _assert_too_large(exit_code: int, stdout: str, stderr: str, path: str) -> None:
    assert exit_code == 1, stderr[-2000:]
    assert stdout == ""
    assert stderr.startswith(f"error[PM0005]: {TOO_LARGE}\n --> {path}:1:1\n")
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert len(stderr) < 2000  # the first line is shown cut to a window, not in full


def test_a_file_over_the_limit_is_reported_without_reading_it_all(
    pmc: PmcRunner, tmp_path: Path
) -> None:
    path = tmp_path / "big.pm"
    with path.open("wb") as stream:  # 300 MB, sparse: a full read would take seconds
        stream.write(b"process P { # " + b"x" * 1000 + b"\n")
        stream.truncate(300 * 1024 * 1024)
    started = time.monotonic()
    run = pmc("check", "big.pm")
    assert time.monotonic() - started < 30
    _assert_too_large(run.exit_code, run.stdout, run.stderr, "big.pm")
    assert "1 | process P { # xxxxxxxx" in run.stderr
    assert "error[PM0005]" in pmc("check", "--format", "concise", "big.pm").stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_reported_as_too_large(pmc: PmcRunner) -> None:
    run = pmc("check", "/dev/zero")
    _assert_too_large(run.exit_code, run.stdout, run.stderr, "/dev/zero")


def test_an_endless_stdin_is_reported_as_too_large(tmp_path: Path) -> None:
    # `yes | pmc check -`: the writer never stops; pmc stops after the limit.
    generator = subprocess.Popen(
        [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('y' * 65536 + '\\n')"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pmc", "check", "-", "--stdin-filename", "yes.pm"],
            stdin=generator.stdout,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    finally:
        assert generator.stdout is not None
        generator.stdout.close()
        generator.kill()
        generator.wait()
    _assert_too_large(completed.returncode, completed.stdout, completed.stderr, "yes.pm")


def test_check_does_not_load_the_runtime_stack(tmp_path: Path) -> None:
    """`pmc check` runs in pre-commit hooks and editors: it must start quickly."""
    import subprocess
    import sys

    (tmp_path / "p.pm").write_text((EXAMPLES / "rebase_cleanup.pm").read_text())
    probe = (
        "import sys\n"
        "from pmc.cli import main\n"
        "try:\n"
        "    main(['check', 'p.pm'])\n"
        "except SystemExit as done:\n"
        "    heavy = ('sqlalchemy', 'pmc.runtime.manager')\n"
        "    loaded = sorted(m for m in heavy if m in sys.modules)\n"
        "    print(done.code, loaded)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.stdout == "0 []\n", run.stderr
