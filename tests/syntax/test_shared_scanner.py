"""The lexer's states share one compiled regex, and read every text as lark's own do.

Lark compiles one regex per parser state the contextual lexer meets, in
every new process; ``share_root_scanner`` lets them all ask one regex of every
terminal first (start-up time, issue 11). The tokens, the errors and where
they are must not change: each case lexes a text with the sharing parser
and with lark's untouched one, and compares all they produce.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark
from lark.exceptions import LarkError
from lark.lexer import BasicLexer, ContextualLexer

from pmc.syntax import grammar

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.pm"))
# A line of each example left out: texts that stop lexing or parsing midway.
BROKEN = [
    (f"{path.stem} without line {number}", "".join(lines[: number - 1] + lines[number:]))
    for path in EXAMPLES
    for lines in [path.read_text(encoding="utf-8").splitlines(keepends=True)]
    for number in range(1, len(lines) + 1, 3)
]
# Where the first terminal of all that matches is not one the parser accepts.
ELSEWHERE = [
    ("a keyword where a name goes", "process P { key key event E { x: int } }"),
    ("a keyword where another goes", "process P { key k event E { x: int } state S { } }"),
    ("a keyword prefix of a name", "process P { key k event E { notdata: str } }"),
    ("an operator the state does not take", "process P { key k -> }"),
    ("a character no terminal matches", "process P { key k ` }"),
]
CASES = [(path.stem, path.read_text(encoding="utf-8")) for path in EXAMPLES] + BROKEN + ELSEWHERE


def lexed(lark: Lark, text: str) -> list[object]:
    """Every token lark's interactive parser takes from ``text``, and the error that stops it."""
    interactive = lark.parse_interactive(text)
    seen: list[object] = []
    try:
        for token in interactive.lexer_thread.lex(interactive.parser_state):  # type: ignore[no-untyped-call]
            seen.append((token.type, str(token), token.start_pos, token.end_line, token.end_column))
            interactive.feed_token(token)
    except LarkError as error:
        seen.append((type(error).__name__, str(error)))
    return seen


def state_scanners_built(lark: Lark) -> int:
    lexer = lark.parser.lexer
    assert isinstance(lexer, ContextualLexer)
    states = {id(state): state for state in lexer.lexers.values()}.values()
    return sum(isinstance(state, BasicLexer) and state._scanner is not None for state in states)


@pytest.fixture(scope="module")
def own_and_shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lark, Lark]:
    directory = tmp_path_factory.mktemp("cache")
    shared = grammar.cached_parser(directory)
    grammar.share_root_scanner(shared)
    return grammar.cached_parser(directory), shared


@pytest.mark.parametrize(("case", "text"), CASES, ids=[case for case, _ in CASES])
def test_shared_scanner_reads_as_lark_does(
    own_and_shared: tuple[Lark, Lark], case: str, text: str
) -> None:
    own, shared = own_and_shared

    assert lexed(shared, text) == lexed(own, text)


def test_a_file_of_the_language_compiles_no_state_regex(tmp_path: Path) -> None:
    shared = grammar.cached_parser(tmp_path)
    grammar.share_root_scanner(shared)

    lexed(shared, EXAMPLES[0].read_text(encoding="utf-8"))

    assert state_scanners_built(shared) == 0


def test_a_state_compiles_its_own_regex_when_the_shared_answer_is_not_for_it(
    tmp_path: Path,
) -> None:
    shared = grammar.cached_parser(tmp_path)
    grammar.share_root_scanner(shared)

    tokens = lexed(shared, "process P { key key event E { x: int } }")

    assert tokens[4] == ("NAME", "key", 16, 1, 20)
    assert state_scanners_built(shared) >= 1


def test_the_process_parser_shares_its_scanner() -> None:
    lexer = grammar.parser().parser.lexer
    assert isinstance(lexer, ContextualLexer)

    assert all(isinstance(state.match, grammar._FirstAllowed) for state in lexer.lexers.values())


# Parts of lark's lexer that sharing relies on, each as another lark version
# might lack it: (what holds it, its name).
LARK_PARTS = [
    ("contextual lexer", "root_lexer"),
    ("contextual lexer", "lexers"),
    ("root lexer", "callback"),
    ("root lexer", "terminals"),
    ("root scanner", "allowed_types"),
]


def lark_part(lexer: ContextualLexer, holder: str) -> object:
    root = lexer.root_lexer
    assert isinstance(root, BasicLexer)
    parts: dict[str, object] = {
        "contextual lexer": lexer,
        "root lexer": root,
        "root scanner": root.scanner,
    }
    return parts[holder]


@pytest.mark.parametrize(("holder", "name"), LARK_PARTS, ids=[name for _, name in LARK_PARTS])
def test_a_lark_without_a_part_sharing_relies_on_is_left_as_it_is(
    tmp_path: Path, holder: str, name: str
) -> None:
    built = grammar.cached_parser(tmp_path)
    lexer = built.parser.lexer
    assert isinstance(lexer, ContextualLexer)
    states = list(lexer.lexers.values())
    delattr(lark_part(lexer, holder), name)

    grammar.share_root_scanner(built)

    assert [vars(state).get("match") for state in states] == [None] * len(states)
    assert [vars(state).get("callback") for state in states] == [None] * len(states)


def test_a_state_lexer_without_match_leaves_every_state_as_it_is(tmp_path: Path) -> None:
    built = grammar.cached_parser(tmp_path)
    lexer = built.parser.lexer
    assert isinstance(lexer, ContextualLexer)
    states = list({id(state): state for state in lexer.lexers.values()}.values())
    states[-1].match = None  # type: ignore[attr-defined]

    grammar.share_root_scanner(built)

    assert [vars(state).get("match") for state in states[:-1]] == [None] * (len(states) - 1)
