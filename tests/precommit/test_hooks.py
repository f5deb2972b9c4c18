"""The published pre-commit hooks, run by the real ``pre-commit`` in a service repository.

The hook repository is a snapshot of this working tree committed to a
temporary git repository, so the test sees uncommitted changes too.
pre-commit installs it into its own virtualenv (from the package registry).
The service's ``.pre-commit-config.yaml`` is the README's snippet, with its
placeholders filled in; the README's `repo: local` variant runs too.
"""

from __future__ import annotations

import os
import re
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


def _readme_snippets() -> tuple[str, str]:
    """The README's two `.pre-commit-config.yaml` snippets: from the repository, and local."""
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Pre-commit\n", 1)[1]
    remote, local = re.findall(r"^```yaml\n(.*?)^```$", section.split("\n## ", 1)[0], re.M | re.S)
    return remote, local


def _remote_config(url: Path, rev: str) -> str:
    """The README's snippet as a service pastes it, placeholders replaced."""
    remote, _ = _readme_snippets()
    config = re.sub(r"(?m)^(\s*- repo:) .*$", rf"\1 {url}", remote)
    config = re.sub(r"(?m)^(\s*rev:) .*$", rf"\1 {rev}", config)
    assert "PLACEHOLDER" not in config and "<" not in config, config
    return config


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
    config = _remote_config(root, rev)
    (tmp_path / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    shutil.copy(REPO / "examples" / "rebase_cleanup.pm", tmp_path / "rebase_cleanup.pm")
    compiled = _run(["pmc", "compile", "rebase_cleanup.pm"], tmp_path, env)
    assert compiled.returncode == 0, compiled.stderr
    _git(tmp_path, env, "init", "-q")
    _git(tmp_path, env, "add", "-A")
    _git(tmp_path, env, "commit", "-q", "-m", "service")
    yield tmp_path


def _pre_commit(service: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(["pre-commit", "run", "--all-files", "--color", "never"], service, env)


HOOKS = ("pmc fmt", "pmc check", "pmc compile --check")  # in the README's order
_STATUS = re.compile(r"^(?P<hook>\S.*?)\.{3,}(?:\([^)]*\))?(?P<status>Passed|Failed|Skipped)$")


def statuses(output: str) -> dict[str, str]:
    """Each hook's result, from pre-commit's `name.....Passed` lines, in the order run."""
    found = {}
    for line in output.splitlines():
        match = _STATUS.match(line.strip())
        if match:
            found[match["hook"]] = match["status"]
    return found


def test_status_lines_are_read_per_hook() -> None:
    output = (
        "pmc fmt..................................................................Passed\n"
        "pmc check............................................(no files to check)Skipped\n"
        "pmc compile --check......................................................Failed\n"
        "- hook id: pmc-compile-check\n"
    )
    assert statuses(output) == {
        "pmc fmt": "Passed",
        "pmc check": "Skipped",
        "pmc compile --check": "Failed",
    }


def test_a_clean_tree_passes(service: Path, env: dict[str, str]) -> None:
    run = _pre_commit(service, env)
    assert run.returncode == 0, run.stdout + run.stderr
    # Every hook ran on the file and passed: a Skipped hook (no file matched) fails here.
    assert statuses(run.stdout) == dict.fromkeys(HOOKS, "Passed"), run.stdout
    assert list(statuses(run.stdout)) == list(HOOKS)  # pmc fmt first


def test_an_unformatted_process_fails_the_fmt_hook_which_fixes_it(
    service: Path, env: dict[str, str]
) -> None:
    source = service / "rebase_cleanup.pm"
    canonical = source.read_text(encoding="utf-8")
    messy = canonical.replace("    key rebase_id\n", "  key   rebase_id;\n").replace(
        "        states Working, Closing, Closed, Failed\n",
        "        states Working,Closing,\n            Closed,Failed\n",
    )
    assert messy != canonical
    source.write_text(messy, encoding="utf-8")
    run = _pre_commit(service, env)
    assert run.returncode == 1
    assert statuses(run.stdout)["pmc fmt"] == "Failed", run.stdout
    assert "files were modified by this hook" in run.stdout
    assert source.read_text(encoding="utf-8") == canonical
    # The checks after it saw the formatted file: the generated module matches it again.
    assert statuses(run.stdout)["pmc check"] == "Passed"
    assert statuses(run.stdout)["pmc compile --check"] == "Passed"


def test_the_readmes_local_hooks_work_as_pasted(service: Path, env: dict[str, str]) -> None:
    if shutil.which("pmc", path=env.get("PATH")) is None:
        pytest.skip("`pmc` is not on PATH (language: system hooks run the installed pmc)")
    _, local = _readme_snippets()
    (service / ".pre-commit-config.yaml").write_text(local, encoding="utf-8")
    clean = _pre_commit(service, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert statuses(clean.stdout) == dict.fromkeys(HOOKS, "Passed"), clean.stdout
    source = service / "rebase_cleanup.pm"
    source.write_text(source.read_text().replace("-> Closed on", "-> Closd on"))
    broken = _pre_commit(service, env)
    assert broken.returncode == 1
    assert statuses(broken.stdout)["pmc check"] == "Failed"
    assert "error[PM0203]: unknown state `Closd`" in broken.stdout


def test_an_invalid_process_fails_with_its_diagnostic(service: Path, env: dict[str, str]) -> None:
    source = service / "rebase_cleanup.pm"
    source.write_text(source.read_text().replace("-> Closed on", "-> Closd on"))
    run = _pre_commit(service, env)
    assert run.returncode == 1
    assert statuses(run.stdout)["pmc check"] == "Failed", run.stdout
    assert "error[PM0203]: unknown state `Closd`" in run.stdout
    assert "rebase_cleanup.pm:" in run.stdout


def test_a_stale_generated_module_fails(service: Path, env: dict[str, str]) -> None:
    source = service / "rebase_cleanup.pm"
    source.write_text(source.read_text().replace('"rebase failed"', '"rebase was abandoned"'))
    run = _pre_commit(service, env)
    assert run.returncode == 1
    assert statuses(run.stdout) == {
        "pmc fmt": "Passed",
        "pmc check": "Passed",
        "pmc compile --check": "Failed",
    }, run.stdout
    assert "rebase_cleanup.py is stale (from rebase_cleanup.pm)" in run.stdout
    assert "run `pmc compile rebase_cleanup.pm`" in run.stdout  # says how to fix it
