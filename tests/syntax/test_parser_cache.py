"""The parser is built once, saved in the user's cache directory, and loaded from it after.

A start of `pmc check` loads the saved tables instead of building them
(bench/startup.py); the saved parser must be the built one, and anything
wrong with the cache must only cost a build, never a failure or a stale
parser.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark, Token, Tree

from pmc.syntax import grammar

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.pm"))
# Keywords must stay whole words in a loaded parser too (the edit is saved).
WORDS = "process P { key k event E { notdata: str } }"


def _parsed(lark: Lark, text: str) -> tuple[str, list[tuple[str, str, int | None, int | None]]]:
    """The tree's shape and every token with its type and position."""
    tree: Tree[Token] = lark.parse(text)
    tokens = tree.scan_values(lambda value: isinstance(value, Token))
    return tree.pretty(), [(t.type, str(t), t.line, t.column) for t in tokens]


def _parser_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("parser-*.lark"))


class _Builds:
    """Stands in for ``build_parser``: counts builds and hands out the process's parser."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *, strict: bool) -> Lark:
        assert not strict
        self.count += 1
        return grammar.parser()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> _Builds:
    counter = _Builds()
    monkeypatch.setattr(grammar, "build_parser", counter)
    return counter


def test_a_saved_parser_is_loaded_and_parses_as_the_built_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = grammar.cached_parser(tmp_path)
    assert len(_parser_files(tmp_path)) == 1

    monkeypatch.setattr(grammar, "build_parser", None)  # a second build would fail
    loaded = grammar.cached_parser(tmp_path)

    assert loaded is not built
    for text in [path.read_text(encoding="utf-8") for path in EXAMPLES] + [WORDS]:
        assert _parsed(loaded, text) == _parsed(built, text)
    assert grammar.fixed_texts(loaded) == grammar.fixed_texts(built)


def test_a_changed_grammar_is_built_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds: _Builds
) -> None:
    grammar.cached_parser(tmp_path)
    before = grammar.cache_key()
    changed = grammar.grammar_text() + "\n// a change\n"
    monkeypatch.setattr(grammar, "grammar_text", lambda: changed)

    grammar.cached_parser(tmp_path)

    assert grammar.cache_key() != before
    assert (builds.count, len(_parser_files(tmp_path))) == (2, 2)


def test_a_damaged_cache_file_is_built_again_and_replaced(tmp_path: Path, builds: _Builds) -> None:
    saved = tmp_path / f"parser-{grammar.cache_key()}.lark"
    saved.write_bytes(b"not a parser")

    grammar.cached_parser(tmp_path)

    assert builds.count == 1
    with saved.open("rb") as stream:
        assert isinstance(Lark.load(stream), Lark)
    assert [path.name for path in tmp_path.iterdir()] == [saved.name]  # no temporary left


def test_a_cache_directory_that_cannot_be_written_only_costs_a_build(
    tmp_path: Path, builds: _Builds
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")

    assert grammar.cached_parser(blocked) is grammar.parser()
    assert builds.count == 1


def test_the_cache_directory_is_the_configured_one_or_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PMC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert grammar.cache_dir() == tmp_path / "xdg" / "pmc"

    monkeypatch.setenv("PMC_CACHE_DIR", str(tmp_path / "own"))
    assert grammar.cache_dir() == tmp_path / "own"


def test_without_its_source_to_key_on_pmc_builds_and_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builds: _Builds
) -> None:
    def unreadable() -> str:
        raise FileNotFoundError("pmc imported from a zip")

    monkeypatch.setattr(grammar, "cache_key", unreadable)

    assert grammar.cached_parser(tmp_path) is grammar.parser()
    assert (builds.count, _parser_files(tmp_path)) == (1, [])
