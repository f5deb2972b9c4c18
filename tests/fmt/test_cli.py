"""``pmc fmt`` as a user runs it: files rewritten in place, ``--check``, ``--diff``, stdin."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.cli.conftest import PmcRunner

UGLY = "process P {\n  key id\n  event E { id: str }\n}\n"
PRETTY = "process P {\n    key id\n\n    event E {\n        id: str\n    }\n}\n"
BROKEN = "process P {\n    machine M {\n        transition a X -> Y on E\n    }\n}\n"


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_rewrites_files_in_place_and_names_them(pmc: PmcRunner, tmp_path: Path) -> None:
    ugly = _write(tmp_path, "ugly.pm", UGLY)
    pretty = _write(tmp_path, "pretty.pm", PRETTY)
    before = pretty.stat().st_mtime_ns
    run = pmc("fmt", "ugly.pm", "pretty.pm")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "reformatted ugly.pm\n")
    assert ugly.read_text(encoding="utf-8") == PRETTY
    assert pretty.stat().st_mtime_ns == before, "an already formatted file is not rewritten"


def test_rewriting_keeps_permissions_and_leaves_no_temporary_file(
    pmc: PmcRunner, tmp_path: Path
) -> None:
    path = _write(tmp_path, "ugly.pm", UGLY)
    os.chmod(path, 0o640)
    assert pmc("fmt", "ugly.pm").exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ugly.pm"]


def test_check_lists_what_would_change_and_writes_nothing(pmc: PmcRunner, tmp_path: Path) -> None:
    _write(tmp_path, "ugly.pm", UGLY)
    _write(tmp_path, "pretty.pm", PRETTY)
    run = pmc("fmt", "--check", "ugly.pm", "pretty.pm")
    assert (run.exit_code, run.stdout, run.stderr) == (1, "", "would reformat ugly.pm\n")
    assert (tmp_path / "ugly.pm").read_text(encoding="utf-8") == UGLY


def test_check_passes_on_formatted_files(pmc: PmcRunner, tmp_path: Path) -> None:
    _write(tmp_path, "pretty.pm", PRETTY)
    run = pmc("fmt", "--check", "pretty.pm")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")


def test_diff_prints_a_unified_diff_and_writes_nothing(pmc: PmcRunner, tmp_path: Path) -> None:
    _write(tmp_path, "ugly.pm", UGLY)
    run = pmc("fmt", "--diff", "ugly.pm")
    assert run.exit_code == 1
    assert run.stderr == "would reformat ugly.pm\n"
    assert run.stdout == (
        "--- ugly.pm (original)\n"
        "+++ ugly.pm (formatted)\n"
        "@@ -1,4 +1,7 @@\n"
        " process P {\n"
        "-  key id\n"
        "-  event E { id: str }\n"
        "+    key id\n"
        "+\n"
        "+    event E {\n"
        "+        id: str\n"
        "+    }\n"
        " }\n"
    )
    assert (tmp_path / "ugly.pm").read_text(encoding="utf-8") == UGLY


def test_syntax_errors_are_reported_like_check_and_the_file_is_untouched(
    pmc: PmcRunner, tmp_path: Path
) -> None:
    _write(tmp_path, "broken.pm", BROKEN)
    _write(tmp_path, "ugly.pm", UGLY)
    run = pmc("fmt", "broken.pm", "ugly.pm")
    check = pmc("check", "broken.pm")
    assert run.exit_code == 1
    assert run.stdout == ""
    assert run.stderr == "reformatted ugly.pm\n" + check.stderr
    assert "error[PM0001]" in run.stderr
    assert (tmp_path / "broken.pm").read_text(encoding="utf-8") == BROKEN
    assert (tmp_path / "ugly.pm").read_text(encoding="utf-8") == PRETTY


def test_diagnostics_follow_the_format_option(pmc: PmcRunner, tmp_path: Path) -> None:
    _write(tmp_path, "broken.pm", BROKEN)
    run = pmc("fmt", "--format", "concise", "broken.pm")
    assert run.exit_code == 1
    assert run.stderr == pmc("check", "--format", "concise", "broken.pm").stderr
    assert run.stderr.startswith("broken.pm:3:")


def test_stdin_is_formatted_to_stdout(pmc: PmcRunner) -> None:
    run = pmc("fmt", "-", stdin=UGLY)
    assert (run.exit_code, run.stdout, run.stderr) == (0, PRETTY, "")


def test_stdin_with_check_uses_the_display_name(pmc: PmcRunner) -> None:
    run = pmc("fmt", "--check", "-", "--stdin-filename", "orders.pm", stdin=UGLY)
    assert (run.exit_code, run.stdout, run.stderr) == (1, "", "would reformat orders.pm\n")


def test_stdin_with_syntax_errors_prints_no_text(pmc: PmcRunner) -> None:
    run = pmc("fmt", "-", "--stdin-filename", "orders.pm", stdin=BROKEN)
    assert run.exit_code == 1
    assert run.stdout == ""
    assert " --> orders.pm:3:" in run.stderr


def test_unreadable_files_are_io_errors(pmc: PmcRunner, tmp_path: Path) -> None:
    _write(tmp_path, "ugly.pm", UGLY)
    run = pmc("fmt", "missing.pm", "ugly.pm")
    assert run.exit_code == 2
    assert run.stderr == (
        "error: cannot read `missing.pm`: No such file or directory\nreformatted ugly.pm\n"
    )


def test_a_symbolic_link_stays_a_link(pmc: PmcRunner, tmp_path: Path) -> None:
    real = _write(tmp_path, "real.pm", UGLY)
    (tmp_path / "link.pm").symlink_to(real)
    assert pmc("fmt", "link.pm").exit_code == 0
    assert (tmp_path / "link.pm").is_symlink()
    assert real.read_text(encoding="utf-8") == PRETTY


def test_crlf_and_cr_files_are_rewritten_with_lf(pmc: PmcRunner, tmp_path: Path) -> None:
    # The reader normalizes line endings: a file that differs only in them
    # still counts as changed, and is written back with `\n`.
    for name, ending in (("crlf.pm", "\r\n"), ("cr.pm", "\r")):
        path = _write(tmp_path, name, PRETTY.replace("\n", ending))
        check = pmc("fmt", "--check", name)
        assert (check.exit_code, check.stderr) == (1, f"would reformat {name}\n")
        run = pmc("fmt", name)
        assert (run.exit_code, run.stderr) == (0, f"reformatted {name}\n")
        assert path.read_bytes() == PRETTY.encode()
