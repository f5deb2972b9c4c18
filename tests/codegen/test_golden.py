"""Every example compiles, and its module is a reviewed snapshot.

``pytest --snapshot-update`` rewrites the snapshots after a deliberate change;
a stale snapshot fails the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from tests.codegen.support import compile_text

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.pm"))
# Every construct of the second edition in one process (a hostile string too).
SECOND_EDITION = Path(__file__).parent / "fixtures" / "second_edition.pm"


def compile_example(path: Path) -> str:
    return compile_text(path.read_text(encoding="utf-8"), path.name)


def test_there_are_examples() -> None:
    assert any(p.name == "rebase_cleanup.pm" for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_module(path: Path, python_snapshot: SnapshotAssertion) -> None:
    assert compile_example(path) == python_snapshot


def test_second_edition_module(python_snapshot: SnapshotAssertion) -> None:
    assert compile_example(SECOND_EDITION) == python_snapshot
