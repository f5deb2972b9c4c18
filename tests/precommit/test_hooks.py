"""The published pre-commit hooks, run by the real ``pre-commit`` in a service repository.

The hook repository is a snapshot of this working tree committed to a
temporary git repository, so the test sees uncommitted changes too.
pre-commit installs it into its own virtualenv (from the package registry).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOK_REPO_CONTENT = (
    "pyproject.toml",
    "README.md",
    ".pre-commit-hooks.yaml",
    "src",
    "grammar",
    "templates",
    "docs",
)

pytestmark = pytest.mark.slow

GIT_ENV = {
    "GIT_AUTHOR_NAME": "pmc tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "pmc tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    completed = _run(["git", *args], cwd, env)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("pre-commit") is None:
        pytest.skip("pre-commit is not installed (it is in the `test` extra)")
    home = tmp_path_factory.mktemp("pre-commit-home")
    return {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home)}


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("hook-repo")
    for name in HOOK_REPO_CONTENT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy(source, root / name)
    _git(root, env, "init", "-q")
    _git(root, env, "add", "-A")
    _git(root, env, "commit", "-q", "-m", "snapshot")
    return root, _git(root, env, "rev-parse", "HEAD")


@pytest.fixture
def service(tmp_path: Path, env: dict[str, str], hook_repo: tuple[Path, str]) -> Iterator[Path]:
    root, rev = hook_repo
    (tmp_path / ".pre-commit-config.yaml").write_text(
        f"repos:\n"
        f"  - repo: {root}\n"
        f"    rev: {rev}\n"
        f"    hooks:\n"
        f"      - id: pmc-check\n"
        f"      - id: pmc-compile-check\n"
        f"      - id: pmc-fmt\n",
        encoding="utf-8",
    )
    shutil.copy(REPO / "examples" / "rebase_cleanup.pm", tmp_path / "rebase_cleanup.pm")
    compiled = _run(["pmc", "compile", "rebase_cleanup.pm"], tmp_path, env)
    assert compiled.returncode == 0, compiled.stderr
    _git(tmp_path, env, "init", "-q")
    _git(tmp_path, env, "add", "-A")
    _git(tmp_path, env, "commit", "-q", "-m", "service")
    yield tmp_path


def _pre_commit(service: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(["pre-commit", "run", "--all-files", "--color", "never"], service, env)


def test_a_clean_tree_passes(service: Path, env: dict[str, str]) -> None:
    run = _pre_commit(service, env)
    assert run.returncode == 0, run.stdout + run.stderr
    for hook in ("pmc check", "pmc compile --check", "pmc fmt"):
        assert f"{hook}." in run.stdout and "Passed" in run.stdout


def test_an_invalid_process_fails_with_its_diagnostic(service: Path, env: dict[str, str]) -> None:
    source = service / "rebase_cleanup.pm"
    source.write_text(source.read_text().replace("-> Closed on", "-> Closd on"))
    run = _pre_commit(service, env)
    assert run.returncode == 1
    assert "error[PM0203]: unknown state `Closd`" in run.stdout
    assert "rebase_cleanup.pm:" in run.stdout


def test_a_stale_generated_module_fails(service: Path, env: dict[str, str]) -> None:
    source = service / "rebase_cleanup.pm"
    source.write_text(source.read_text().replace('"rebase failed"', '"rebase was abandoned"'))
    run = _pre_commit(service, env)
    assert run.returncode == 1
    assert "rebase_cleanup.py is stale (from rebase_cleanup.pm)" in run.stdout
