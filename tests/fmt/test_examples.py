"""The examples under ``examples/`` are what people copy: they should be canonical."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fmt.support import EXAMPLE_FILES, assert_formatting_is_safe, fmt


def test_there_are_examples() -> None:
    assert len(EXAMPLE_FILES) >= 4


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_examples_are_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.name)
def test_formatting_an_example_is_safe(path: Path) -> None:
    assert_formatting_is_safe(path.read_text(encoding="utf-8"))
