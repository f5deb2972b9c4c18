"""``pmc graph``: output, options and exit codes (0 drawn, 1 check errors, 2 usage/I-O)."""

from __future__ import annotations

from pathlib import Path

from pmc.tools.graph import render_dot, render_mermaid
from tests.cli.conftest import EXAMPLES, PmcRunner
from tests.graph.helpers import example_model

REBASE = EXAMPLES / "rebase_cleanup.pm"


def test_draws_mermaid_to_stdout_by_default(pmc: PmcRunner) -> None:
    run = pmc("graph", str(REBASE))
    assert (run.exit_code, run.stderr) == (0, "")
    assert run.stdout == render_mermaid(example_model(REBASE))


def test_draws_one_machine_as_dot_into_a_file(cli: PmcRunner, tmp_path: Path) -> None:
    path = EXAMPLES / "provisioning.pm"
    run = cli("graph", str(path), "--format", "dot", "--machine", "Node", "-o", "nodes.dot")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")
    written = (tmp_path / "nodes.dot").read_text(encoding="utf-8")
    assert written == render_dot(example_model(path), "Node")
    assert [p.name for p in tmp_path.iterdir()] == ["nodes.dot"]  # no temporary left behind


def test_an_unknown_machine_is_a_usage_error(cli: PmcRunner) -> None:
    run = cli("graph", str(REBASE), "--machine", "Nope")
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr == "error: no machine `Nope` in this process (machines: Instance)\n"


def test_a_file_with_errors_prints_its_diagnostics_and_exits_one(
    cli: PmcRunner, tmp_path: Path
) -> None:
    (tmp_path / "bad.pm").write_text("process P {\n    key\n}\n", encoding="utf-8")
    run = cli("graph", "bad.pm")
    assert (run.exit_code, run.stdout) == (1, "")
    assert "error[PM0001]" in run.stderr
    assert "--> bad.pm:" in run.stderr


def test_a_missing_file_or_bad_option_exits_two(cli: PmcRunner) -> None:
    missing = cli("graph", "missing.pm")
    assert (missing.exit_code, missing.stdout) == (2, "")
    assert missing.stderr.startswith("error: cannot read `missing.pm`")
    assert cli("graph", str(REBASE), "--format", "svg").exit_code == 2


def test_output_into_a_directory_that_does_not_exist_yet(cli: PmcRunner, tmp_path: Path) -> None:
    run = cli("graph", str(REBASE), "-o", "docs/diagrams/rebase.mmd")
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")
    written = (tmp_path / "docs" / "diagrams" / "rebase.mmd").read_text(encoding="utf-8")
    assert written == render_mermaid(example_model(REBASE))


def test_diagnostics_print_as_text_whatever_the_diagram_format(
    cli: PmcRunner, tmp_path: Path
) -> None:
    (tmp_path / "bad.pm").write_text("process P {\n    key\n}\n", encoding="utf-8")
    run = cli("graph", "bad.pm", "--format", "dot")
    assert (run.exit_code, run.stdout) == (1, "")
    assert run.stderr.startswith("error[PM0001]")
    assert run.stderr.endswith("1 error, 0 warnings emitted\n")
