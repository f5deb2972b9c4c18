"""The diagrams in the docs are ``pmc graph`` output, and Graphviz draws every example.

``docs/diagrams.md`` shows every example and the README the reference
process; a diagram that drifts from what the ``pmc graph`` command prints
(the typer app, run in this process) fails here, and so does a command that
draws differently under another ``PYTHONHASHSEED``. To refresh them after a
deliberate change to the renderer or an example, run::

    PMC_UPDATE_DIAGRAMS=1 python -m pytest tests/graph/test_docs.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmc.cli import app
from pmc.tools.graph import render_dot, render_mermaid
from tests.graph.helpers import example_model

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.pm"))
DIAGRAMS = REPO / "docs" / "diagrams.md"
README = REPO / "README.md"
README_HEADING = "The reference process"
UPDATE = os.environ.get("PMC_UPDATE_DIAGRAMS") == "1"


@dataclass(frozen=True)
class Block:
    """A ```mermaid fence: the heading above it, and the lines of its body."""

    heading: str
    start: int  # index of the first body line
    end: int  # index of the closing fence
    body: str


def mermaid_blocks(markdown: str) -> list[Block]:
    lines = markdown.split("\n")
    blocks = []
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip() == "```mermaid":
            close = lines.index("```", index + 1)
            body = "".join(f"{text}\n" for text in lines[index + 1 : close])
            blocks.append(Block(heading, index + 1, close, body))
            index = close
        index += 1
    return blocks


def replace_block(markdown: str, heading: str, body: str) -> str:
    [block] = [b for b in mermaid_blocks(markdown) if b.heading == heading]
    lines = markdown.split("\n")
    return "\n".join([*lines[: block.start], *body.rstrip("\n").split("\n"), *lines[block.end :]])


def _checked_blocks(path: Path, expected: dict[str, str]) -> dict[str, str]:
    """The diagrams of ``path`` by heading, rewritten first in update mode."""
    if UPDATE:
        text = path.read_text(encoding="utf-8")
        present = {b.heading for b in mermaid_blocks(text)}
        for heading, body in expected.items():
            if heading in present:
                text = replace_block(text, heading, body)
            else:  # a new example: append its section
                text = f"{text.rstrip()}\n\n### {heading}\n\n```mermaid\n{body}```\n"
        path.write_text(text, encoding="utf-8")
    return {b.heading: b.body for b in mermaid_blocks(path.read_text(encoding="utf-8"))}


def pmc_graph(path: Path, *options: str) -> str:
    """What ``pmc graph examples/NAME.pm`` prints, run from the repository's top."""
    previous = Path.cwd()
    os.chdir(REPO)
    try:
        result = CliRunner().invoke(
            app, ["graph", f"examples/{path.name}", *options], catch_exceptions=False
        )
    finally:
        os.chdir(previous)
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return result.stdout


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 4


def test_docs_show_every_example_as_pmc_graph_draws_it() -> None:
    expected = {f"examples/{p.name}": pmc_graph(p) for p in EXAMPLES}
    assert _checked_blocks(DIAGRAMS, expected) == expected


def test_readme_shows_the_reference_process_as_pmc_graph_draws_it() -> None:
    expected = pmc_graph(REPO / "examples" / "rebase_cleanup.pm")
    blocks = _checked_blocks(README, {README_HEADING: expected})
    assert blocks[README_HEADING] == expected


def test_the_command_prints_what_the_library_renders() -> None:
    for path in EXAMPLES:
        model = example_model(path)
        assert pmc_graph(path) == render_mermaid(model)
        assert pmc_graph(path, "--format", "dot") == render_dot(model)


# `pmc graph` on each file named after the format, in one interpreter, with a NUL
# after each diagram: one interpreter start per hash seed, not one per example.
_DRAW_EACH = """\
import sys
from pmc.cli import main

for path in sys.argv[2:]:
    try:
        main(["graph", path, "--format", sys.argv[1]])
    except SystemExit as done:
        if done.code:
            raise
    sys.stdout.write("\\0")
"""


@pytest.mark.slow
@pytest.mark.parametrize("graph_format", ["mermaid", "dot"])
def test_the_command_draws_the_same_bytes_under_any_hash_seed(graph_format: str) -> None:
    """Set and dict order must not leak into a diagram: each example, two interpreters."""

    def draw_each(seed: str) -> list[bytes]:
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                _DRAW_EACH,
                graph_format,
                *(f"examples/{path.name}" for path in EXAMPLES),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert (completed.returncode, completed.stderr) == (0, b""), completed.stderr
        *diagrams, rest = completed.stdout.split(b"\0")
        assert (len(diagrams), rest) == (len(EXAMPLES), b""), completed.stdout
        return diagrams

    for path, first, second in zip(EXAMPLES, draw_each("1"), draw_each("2"), strict=True):
        assert first == second, path.name


def test_block_parsing_finds_each_fence_under_its_heading() -> None:
    markdown = "# T\n\n## a\n\ntext\n\n```mermaid\nx\ny\n```\n\n## b\n```sh\nz\n```\n"
    assert [(b.heading, b.body) for b in mermaid_blocks(markdown)] == [("a", "x\ny\n")]
    replaced = replace_block(markdown, "a", "new\n")
    assert replaced == markdown.replace("x\ny\n", "new\n")


@pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz `dot` is not installed (Debian package `graphviz`; .ci/run installs it)",
)
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_graphviz_renders_every_example_to_svg(path: Path) -> None:
    model = example_model(path)
    completed = subprocess.run(
        ["dot", "-Tsvg"], input=render_dot(model), capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""  # Graphviz warns on stderr, e.g. for a bad attribute
    svg = completed.stdout
    assert svg.rstrip().endswith("</svg>")
    for machine in model.machines:
        assert f"<title>cluster_m{model.machines.index(machine)}</title>" in svg
        for state in machine.states:
            assert f">{state}</text>" in svg
        for transition in machine.transitions:
            assert f">{transition.name}: " in svg
