"""pmc.files: atomic writes and diffs shared by compile, fmt and graph."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pmc.files import replacing, unified_diff, write_atomically


def test_the_diff_marks_a_missing_final_newline() -> None:
    diff = unified_diff("process P {}", "process P {}\n", "a/p.pm", "b/p.pm")
    assert diff.endswith("-process P {}\n\\ No newline at end of file\n+process P {}\n")


def test_the_diff_splits_lines_at_newlines_only() -> None:
    before = 'process P { event E { s: str = "\x0c" } }\n'
    diff = unified_diff(before, "process P {}\n", "a/p.pm", "b/p.pm")
    assert f"-{before}" in diff


def test_a_missing_file_diffs_from_dev_null() -> None:
    diff = unified_diff(None, "x = 1\n", "p.py", "p.py")
    assert diff.startswith("--- /dev/null\n+++ p.py\n")
    assert diff.endswith("+x = 1\n")


def test_write_creates_and_replaces_keeping_permissions(tmp_path: Path) -> None:
    path = tmp_path / "out.py"
    write_atomically(path, "first\n")
    assert path.read_text() == "first\n"
    os.chmod(path, 0o640)
    write_atomically(path, "second\n")
    assert path.read_text() == "second\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.py"]


def test_write_through_a_symlink_replaces_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real.pm"
    real.write_text("old\n")
    link = tmp_path / "link.pm"
    link.symlink_to(real)
    write_atomically(link, "new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.py"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "bad \udc80 surrogate\n")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.py"]


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        write_atomically(tmp_path / "new.py", "x\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o600


def test_a_streamed_write_replaces_the_file_only_when_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    with replacing(path) as out:
        out.write("one\n")
        assert path.read_text() == "old\n"
        out.write("two\n")
    assert path.read_text() == "one\ntwo\n"
    with pytest.raises(RuntimeError), replacing(path) as out:
        out.write("half\n")
        raise RuntimeError("the store went away")
    assert path.read_text() == "one\ntwo\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
