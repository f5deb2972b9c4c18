"""The README's commands and examples stay true."""

from __future__ import annotations

import re
from pathlib import Path

from pmc.compiler import check_source
from pmc.diagnostics.render import FileDiagnostics, render_text, summary_line
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
    assert install.startswith("python -m pip install -e '.[test]'")
    assert "pmc compile examples/rebase_cleanup.pm" in install
    assert "sqlite:///" in install
    assert install in ci
    assert test == "python -m pytest"
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
    report = FileDiagnostics(source, check_source(source).diagnostics)
    assert shown == render_text(report) + f"{summary_line([report])} emitted\n"
