"""Every benchmark script still starts: its imports resolve and it reads its options.

Benchmarks are scripts, not tests (they time things, see bench/): these
tests run none of them, they only prove each loads against the code it
measures, and that ``bench/all.py`` runs every one.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# The scripts, not the modules they share (benchlib, workload).
SCRIPTS = sorted(
    path for path in BENCH.glob("*.py") if 'if __name__ == "__main__":' in path.read_text()
)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_script_shows_its_help(
    script: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    assert exited.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_all_runs_every_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    listed = runpy.run_path(str(BENCH / "all.py"))["SCRIPTS"]
    # It may list a script not landed yet (skipped then), never leave one out.
    assert {path.stem for path in SCRIPTS if path.stem != "all"} <= set(listed)
