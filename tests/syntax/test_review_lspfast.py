"""Review of lspfast: texts where the editor's incremental check is not `pmc check`'s.

Each test states what `pmc check` (``check_source``) reports for a text, and
that the editor's ``Checker`` must report the same; they fail on lspfast.
"""

from __future__ import annotations

from pathlib import Path

from pmc.compiler import Checker, check_source
from pmc.source import SourceFile
from tests.lsp.client import running_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GUARD = "when data.declines < 2"


def dunning_with_a_long_guard(terms: int) -> str:
    """dunning.pm whose guard adds ``terms`` ones: one line of about ``4 * terms`` characters."""
    text = (EXAMPLES / "dunning.pm").read_text(encoding="utf-8")
    assert GUARD in text
    return text.replace(GUARD, "when data.declines < " + " + ".join(["1"] * terms), 1)


def test_a_long_sum_is_reported_by_the_incremental_check_as_by_pmc_check() -> None:
    # `pmc check` reports PM0005 (nested too deeply); the incremental parser
    # moves the parsed block to its line with a recursive walk of the tree,
    # and a 600-term sum (a 2,400-character line) overflows Python's stack.
    source = SourceFile("dunning.pm", dunning_with_a_long_guard(600))
    full = check_source(source)
    assert [d.id for d in full.diagnostics] == ["PM0005"]
    assert Checker().check(source).diagnostics == full.diagnostics


def test_the_server_publishes_pmc_checks_error_for_a_long_sum(tmp_path: Path) -> None:
    text = dunning_with_a_long_guard(600)
    with running_server(tmp_path) as server:
        diagnostics = server.open((tmp_path / "dunning.pm").as_uri(), text)
    assert [d["code"] for d in diagnostics] == ["PM0005"]
