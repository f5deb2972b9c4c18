"""The README's commands and examples stay true."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from pmc.cli import app
from pmc.compiler import check_source
from pmc.diagnostics.render import DiagnosticReport, render_text, summary_line
from pmc.source import SourceFile

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", README, re.M | re.S)


def test_the_first_lines_are_the_two_commands_ci_runs() -> None:
    first = README.split("```sh\n", 1)[1].split("```", 1)[0]
    install, test = first.strip().splitlines()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert README.index("```sh") < README.index("\n## ")
    # A virtualenv first: current Debian and Ubuntu refuse `pip install` into
    # the system interpreter (PEP 668).
    venv, pip, *_ = install.split(" && ")
    assert (venv, pip) == ("python3 -m venv .venv", ".venv/bin/python -m pip install -e '.[test]'")
    assert ".venv/bin/pmc compile examples/rebase_cleanup.pm" in install
    assert "sqlite:///" in install
    assert install in ci
    assert test == ".venv/bin/python -m pytest"
    assert test in ci


def test_the_tour_shows_the_reference_example() -> None:
    example = (REPO / "examples" / "rebase_cleanup.pm").read_text(encoding="utf-8")
    without_comments = "\n".join(
        line for line in example.splitlines() if not line.lstrip().startswith("#")
    )
    assert _blocks("pm")[0].strip() == without_comments.strip()


def test_the_tour_shows_real_check_output() -> None:
    console = next(block for block in _blocks("console") if "$ pmc check broken.pm" in block)
    shown = console.split("$ pmc check broken.pm\n", 1)[1]
    example = (REPO / "examples" / "rebase_cleanup.pm").read_text(encoding="utf-8")
    broken = example.replace("-> Closed on CloseInstance", "-> Closd on CloseInstance")
    source = SourceFile("broken.pm", broken)
    report = DiagnosticReport(source, check_source(source).diagnostics)
    assert shown == render_text(report) + f"{summary_line([report])} emitted\n"


# ---- "Draw, format, guard" and "Pre-commit": commands and snippets that work as pasted --------


def _section(start: str, end: str) -> str:
    return README.split(start, 1)[1].split(end, 1)[0]


GUARD = _section("**Draw, format, guard.**", "\n## ")
PRE_COMMIT = _section("\n## Pre-commit\n", "\n## ")


def _section_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section, re.M | re.S)


def _yaml(block: str) -> Any:
    yaml = pytest.importorskip("yaml")  # PyYAML comes with pre-commit, in the test extra
    return yaml.safe_load(block)


def _parses_as_pmc(line: str) -> None:
    """``pmc COMMAND ...`` names a real command, and its options parse as the CLI would."""
    args = shlex.split(line, comments=True)
    assert args[0] == "pmc", line
    commands = typer.main.get_command(app).commands  # a group of commands
    assert args[1] in commands, f"`{line}`: no command `{args[1]}`"
    try:
        commands[args[1]].make_context(f"pmc {args[1]}", args[2:])
    except Exception as error:  # the parser's own usage error, e.g. "No such option"
        pytest.fail(f"`{line}`: {error}")


def _guard_commands() -> list[str]:
    [sh] = _section_blocks(GUARD, "sh")
    lines = [line for line in sh.splitlines() if line.strip()]
    for workflow in _section_blocks(GUARD, "yaml"):
        steps = _yaml(workflow)["jobs"]["pm"]["steps"]
        lines += [step["run"] for step in steps if step.get("run", "").startswith("pmc ")]
    return lines


def test_the_guard_commands_name_real_commands_and_options() -> None:
    lines = _guard_commands()
    assert len(lines) >= 7
    for line in lines:
        _parses_as_pmc(line)


def test_the_check_of_guard_commands_catches_a_wrong_option() -> None:
    with pytest.raises(pytest.fail.Exception, match="No such option"):
        _parses_as_pmc("pmc breaking new.pm --against old.pm --no-such-option")
    with pytest.raises(pytest.fail.Exception, match="svg"):
        _parses_as_pmc("pmc graph x.pm --format svg")
    with pytest.raises(AssertionError, match="no command `draw`"):
        _parses_as_pmc("pmc draw x.pm")


def test_the_ci_snippet_checks_out_the_history_it_compares_with() -> None:
    [workflow] = _section_blocks(GUARD, "yaml")
    steps = _yaml(workflow)["jobs"]["pm"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # a shallow clone has no origin/main
    breaking = next(s["run"] for s in steps if s.get("run", "").startswith("pmc breaking"))
    assert "--against git:origin/main:" in breaking
    assert "--format github" in breaking
    assert "docs/breaking.md" in GUARD


def _published_hooks() -> dict[str, dict[str, Any]]:
    hooks = _yaml((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return {hook["id"]: hook for hook in hooks}


def test_the_pre_commit_snippets_parse_and_use_the_published_hooks() -> None:
    remote, local = (_yaml(block) for block in _section_blocks(PRE_COMMIT, "yaml"))
    published = _published_hooks()
    [repo] = remote["repos"]
    assert "PLACEHOLDER" in PRE_COMMIT.split(repo["repo"], 1)[1].split("\n", 1)[0]
    ids = [hook["id"] for hook in repo["hooks"]]
    assert ids[0] == "pmc-fmt"  # format first, so the checks see the formatted file
    assert sorted(ids) == sorted(published)
    [local_repo] = local["repos"]
    assert local_repo["repo"] == "local"
    local_hooks = local_repo["hooks"]
    assert [hook["id"] for hook in local_hooks] == ids
    for hook in local_hooks:
        expected = published[hook["id"]]
        assert hook["language"] == "system"
        assert (hook["name"], hook["entry"], hook["files"]) == (
            expected["name"],
            expected["entry"],
            expected["files"],
        )
        _parses_as_pmc(f"{hook['entry']} file.pm")
