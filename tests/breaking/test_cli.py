"""``pmc breaking``: exit codes (0 fine, 1 breaking, 2 usage/I-O/invalid), formats, git:REF:PATH."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.breaking.test_rules import BASE, edit
from tests.cli.conftest import PmcRunner, Run

RENAMED_STATE = edit(("Failed", "Failure"))


def _write(directory: Path, name: str, text: str) -> str:
    (directory / name).write_text(text, encoding="utf-8")
    return name


def annotations(run: Run) -> list[str]:
    """The workflow commands printed, whichever stream the `github` format writes them to."""
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("::")]


def test_a_compatible_change_exits_zero_silently(cli: PmcRunner, tmp_path: Path) -> None:
    old = _write(tmp_path, "old.pm", BASE)
    new = _write(tmp_path, "new.pm", edit(('note: str = ""', 'note: str | None = ""')))
    run = cli("breaking", new, "--against", old)
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")


def test_a_breaking_change_exits_one_pointing_into_the_old_file(
    pmc: PmcRunner, tmp_path: Path
) -> None:
    old = _write(tmp_path, "old.pm", BASE)
    new = _write(tmp_path, "new.pm", RENAMED_STATE)
    run = pmc("breaking", new, "--against", old)
    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr.startswith(
        "error[STATE_NO_DELETE]: state `Failed` was removed from machine `Order`\n"
        "  --> old.pm:26:37\n"
        "   |\n"
        "26 |         states New, Charging, Paid, Failed\n"
        f"   | {' ' * 36}^^^^^^ recorded transitions enter or leave this state\n"
        "   = help: if `Failed` was renamed to `Failure`, keep the old name: streams record it\n"
    )
    assert run.stderr.endswith("1 error, 0 warnings emitted\n")


def test_a_warning_alone_exits_zero(cli: PmcRunner, tmp_path: Path) -> None:
    old = _write(tmp_path, "old.pm", BASE)
    new = _write(tmp_path, "new.pm", edit(("task Charge async", "task Charge sync")))
    run = cli("breaking", new, "--against", old, "--format", "concise")
    assert run.exit_code == 0
    assert run.stderr == (
        "new.pm:16:17: warning[TASK_MODE_SAME]: task `Charge` changed from async to sync\n"
    )


def test_json_lists_findings_on_stdout(cli: PmcRunner, tmp_path: Path) -> None:
    old = _write(tmp_path, "old.pm", BASE)
    new = _write(tmp_path, "new.pm", RENAMED_STATE)
    run = cli("breaking", new, "--against", old, "--format", "json")
    assert (run.exit_code, run.stderr) == (1, "")
    [item] = json.loads(run.stdout)
    assert (item["path"], item["code"], item["severity"]) == ("old.pm", "STATE_NO_DELETE", "error")
    assert item["span"] == {"line": 26, "column": 37, "end_line": 26, "end_column": 43}


def test_check_errors_in_either_version_exit_two_with_the_diagnostics(
    cli: PmcRunner, tmp_path: Path
) -> None:
    old = _write(tmp_path, "old.pm", BASE.replace("initial New", "initial Nwe"))
    new = _write(tmp_path, "new.pm", BASE)
    run = cli("breaking", new, "--against", old, "--format", "github")
    assert run.exit_code == 2
    assert annotations(run)[0].startswith("::error file=old.pm,line=27,")
    assert run.stderr.endswith(
        "error: fix the errors above first: only valid versions can be compared\n"
    )


def test_unreadable_files_and_bad_specs_exit_two(cli: PmcRunner, tmp_path: Path) -> None:
    new = _write(tmp_path, "new.pm", BASE)
    missing = cli("breaking", new, "--against", "missing.pm")
    assert (missing.exit_code, missing.stdout) == (2, "")
    assert missing.stderr.startswith("error: cannot read `missing.pm`")
    malformed = cli("breaking", new, "--against", "git:HEAD")
    assert malformed.exit_code == 2
    assert "is not of the form git:REF:PATH" in malformed.stderr
    assert cli("breaking", new).exit_code == 2  # --against is required


# ---- git:REF:PATH ------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=pmc", "-c", "user.email=pmc@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose HEAD holds BASE at procs/shop.pm."""
    _git(tmp_path, "init", "--quiet")
    (tmp_path / "procs").mkdir()
    _write(tmp_path / "procs", "shop.pm", BASE)
    _git(tmp_path, "add", "procs/shop.pm")
    _git(tmp_path, "commit", "--quiet", "-m", "shop")
    return tmp_path


def test_against_a_git_revision(cli: PmcRunner, repo: Path) -> None:
    _write(repo / "procs", "shop.pm", RENAMED_STATE)  # the working copy changes
    run = cli("breaking", "procs/shop.pm", "--against", "git:HEAD:procs/shop.pm", cwd=repo)
    assert run.exit_code == 1
    assert "  --> git:HEAD:procs/shop.pm:26:37\n" in run.stderr
    relative = cli("breaking", "shop.pm", "--against", "git:HEAD:./shop.pm", cwd=repo / "procs")
    assert relative.exit_code == 1  # `./` is relative to the current directory


def test_a_path_missing_at_the_revision_exits_two(cli: PmcRunner, repo: Path) -> None:
    run = cli("breaking", "procs/shop.pm", "--against", "git:HEAD:procs/nope.pm", cwd=repo)
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith("error: cannot read `git:HEAD:procs/nope.pm`: fatal: ")


def test_github_annotations_point_into_the_new_file_when_the_old_is_a_revision(
    cli: PmcRunner, repo: Path
) -> None:
    _write(repo / "procs", "shop.pm", RENAMED_STATE)
    run = cli(
        "breaking",
        "procs/shop.pm",
        "--against",
        "git:HEAD:procs/shop.pm",
        "--format",
        "github",
        cwd=repo,
    )
    assert run.exit_code == 1
    # The `states` clause of the new file, not `git:HEAD:...`, which is in no pull request.
    assert annotations(run) == [
        "::error file=procs/shop.pm,line=26,col=9,endLine=26,endColumn=44,"
        "title=STATE_NO_DELETE::state `Failed` was removed from machine `Order` "
        "(was at line 26 of HEAD) (help: if `Failed` was renamed to `Failure`, "
        "keep the old name: streams record it)"
    ]
    text = cli("breaking", "procs/shop.pm", "--against", "git:HEAD:procs/shop.pm", cwd=repo)
    assert "  --> git:HEAD:procs/shop.pm:26:37\n" in text.stderr  # text keeps the old source


def test_strict_fails_on_warnings(cli: PmcRunner, tmp_path: Path) -> None:
    old = _write(tmp_path, "old.pm", BASE)
    new = _write(tmp_path, "new.pm", edit(("task Charge async", "task Charge sync")))
    run = cli("breaking", new, "--against", old, "--strict", "--format", "concise")
    assert (run.exit_code, run.stdout) == (1, "")
    assert "warning[TASK_MODE_SAME]" in run.stderr
    assert cli("breaking", old, "--against", old, "--strict").exit_code == 0


def test_a_new_initial_state_exits_one(cli: PmcRunner, tmp_path: Path) -> None:
    old = _write(tmp_path, "old.pm", BASE)
    new = _write(
        tmp_path,
        "new.pm",
        edit(
            ("states New,", "states Draft, New,"),
            ("initial New", "initial Draft"),
            (
                "        transition charge:",
                "        transition open: Draft -> New on Placed\n        transition charge:",
            ),
        ),
    )
    run = cli("breaking", new, "--against", old, "--format", "concise")
    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr == (
        "new.pm:27:17: error[INITIAL_SAME]: machine `Order` now starts in `Draft`, not `New`\n"
    )
