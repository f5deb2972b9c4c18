"""A ``pmc lsp`` server shared by the protocol tests of a module, and the fixture files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lsp.client import LspClient, running_server

FIXTURES = Path(__file__).parent / "fixtures"
SHOP = (FIXTURES / "shop.pm").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server() -> Iterator[LspClient]:
    with running_server(FIXTURES) as client:
        yield client


def uri_of(name: str) -> str:
    """A document URI of its own for each test: the server keeps documents by URI."""
    return (FIXTURES / name).as_uri()


def find(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """The 0-based (line, UTF-16 column) of the ``occurrence``-th ``needle`` in ``text``."""
    offset = -1
    for _ in range(occurrence):
        offset = text.index(needle, offset + 1)
    return lsp_position(text, offset)


def lsp_position(text: str, offset: int) -> tuple[int, int]:
    """The 0-based (line, UTF-16 column) of a character offset of ``text``."""
    line = text.count("\n", 0, offset)
    prefix = text[text.rfind("\n", 0, offset) + 1 : offset]
    return line, len(prefix.encode("utf-16-le")) // 2
