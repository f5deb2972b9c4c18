"""The parser is built once, saved in the user's cache directory, and loaded from it after.

A start of `pmc check` loads the saved tables instead of building them
(bench/startup.py); the saved parser must be the built one, and anything
wrong with the cache must only cost a build, never a failure or a stale
parser.
"""

from __future__ import annotations

import os
import pickle
import threading
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
    grammar.parser()  # built (or loaded) before builds are counted
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
        stream.readline()  # the header: key and digest
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


def _saved(directory: Path) -> Path:
    return directory / f"parser-{grammar.cache_key()}.lark"


def _damaged(content: bytes) -> list[bytes]:
    """A saved file with one byte changed in its pickle, cut short, or without its header."""
    header, _, payload = content.partition(b"\n")
    middle = len(payload) // 2
    flipped = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1 :]
    return [header + b"\n" + flipped, content[: len(content) // 2], payload]


def test_a_damaged_cache_file_that_still_unpickles_is_built_again(
    tmp_path: Path, builds: _Builds
) -> None:
    """One byte changed in a pickle often still unpickles, to something that raises
    any error later, or to a parser refusing valid input: the digest catches it."""
    grammar.cached_parser(tmp_path)
    saved = _saved(tmp_path)
    good = saved.read_bytes()

    for damaged in [*_damaged(good), pickle.dumps({"not": "a parser"})]:
        saved.write_bytes(damaged)
        assert grammar.cached_parser(tmp_path).parse(WORDS) is not None
        assert saved.read_bytes() == good  # replaced by the one built
    assert builds.count == 5


class _Planted:
    """What someone else who may write the cache directory could leave there."""

    ran = False

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("from tests.syntax.test_parser_cache import _Planted; _Planted.ran = True",))


def _plant(directory: Path, *, header: bytes | None = None) -> Path:
    """A pickle that runs code when loaded, under the header a saved parser has."""
    payload = pickle.dumps(_Planted())
    saved = _saved(directory)
    saved.write_bytes((header or grammar._header(grammar.cache_key(), payload)) + payload)
    return saved


def test_a_planted_pickle_with_a_wrong_digest_is_not_loaded(
    tmp_path: Path, builds: _Builds
) -> None:
    another = grammar._header(grammar.cache_key(), b"another payload")
    _plant(tmp_path, header=another)

    grammar.cached_parser(tmp_path)

    assert (_Planted.ran, builds.count) == (False, 1)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners and modes")
@pytest.mark.parametrize("shared", ["directory", "file"])
def test_a_cache_others_may_write_is_not_loaded_from(
    tmp_path: Path, builds: _Builds, shared: str
) -> None:
    """A group- or world-writable directory (PMC_CACHE_DIR=/tmp/pmc-cache on a shared
    runner, say) or file: its pickle is not loaded, even with the right digest."""
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    saved = _plant(directory)
    (directory if shared == "directory" else saved).chmod(0o777)

    assert grammar.cached_parser(directory) is grammar.parser()

    assert (_Planted.ran, builds.count) == (False, 1)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners")
def test_a_cache_another_user_owns_is_not_loaded_from(
    tmp_path: Path, builds: _Builds, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    _plant(directory)
    # Files and directory are this user's; pmc runs as another one.
    monkeypatch.setattr(os, "geteuid", lambda: directory.stat().st_uid + 1)

    grammar.cached_parser(directory)

    assert (_Planted.ran, builds.count) == (False, 1)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX modes")
def test_the_cache_directory_is_created_private(tmp_path: Path, builds: _Builds) -> None:
    directory = tmp_path / "new" / "cache"

    grammar.cached_parser(directory)

    assert directory.stat().st_mode & 0o777 == 0o700
    assert len(_parser_files(directory)) == 1


def test_processes_saving_at_once_leave_one_whole_parser(tmp_path: Path, builds: _Builds) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def save() -> None:
        start.wait()
        try:
            grammar.cached_parser(tmp_path)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=save) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [path.name for path in tmp_path.iterdir()] == [_saved(tmp_path).name]
    assert grammar._load(_saved(tmp_path), grammar.cache_key()) is not None
