"""``pmc check``: output streams, formats and exit codes (0 clean, 1 errors, 2 usage/I-O)."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert github.stderr.startswith("::error file=broken.pm,line=3,col=21,")
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


def test_missing_file_is_an_io_error(pmc: PmcRunner) -> None:
    run = pmc("check", "does_not_exist.pm")
    assert run.exit_code == 2
    assert run.stderr == "error: cannot read `does_not_exist.pm`: No such file or directory\n"


def test_directory_and_binary_files_are_io_errors(pmc: PmcRunner, tmp_path: Path) -> None:
    (tmp_path / "binary.pm").write_bytes(b"process \xff\xfe {")
    (tmp_path / "folder.pm").mkdir()
    run = pmc("check", "binary.pm", "folder.pm")
    assert run.exit_code == 2
    assert "cannot read `binary.pm`: not valid UTF-8 (byte 8)" in run.stderr
    assert "cannot read `folder.pm`: it is a directory" in run.stderr
    assert "Traceback" not in run.stderr


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
