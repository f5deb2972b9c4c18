"""Hypothesis strategies for `.pm` text: programs drawn from the grammar, and
mutations of the examples."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from pmc.syntax.grammar import fixed_texts, grammar_text, parser

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.pm"))
EXAMPLE_TEXTS = [path.read_text(encoding="utf-8") for path in EXAMPLES]

# from_lark joins tokens with nothing between them unless it happens to draw an
# ignored terminal, so `process P` could come out as `processP`. Every token
# therefore brings its own leading whitespace.
_SEPARATOR = st.sampled_from([" ", "  ", "\n", "\n    ", "\t"])


def _spaced(token: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(_SEPARATOR, token).map("".join)


def keywords() -> frozenset[str]:
    return frozenset(text for text in fixed_texts(parser()).values() if text.isidentifier())


# Names never spell a keyword: where the keyword would also fit, the contextual
# lexer rightly reads it as the keyword, and the text is then not the program
# the grammar derivation meant.
NAMES = st.one_of(
    st.sampled_from(["A", "B", "Working", "Closed", "id", "reason", "x1", "Event_2"]),
    st.from_regex(re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,8}"), fullmatch=True),
).filter(lambda name: name not in keywords())

STRINGS = st.lists(
    st.one_of(
        st.characters(exclude_characters='"\\\r\n', exclude_categories=["Cs"]),
        st.sampled_from(['\\"', "\\\\", "\\n", "\\t"]),
    ),
    max_size=8,
).map(lambda parts: '"' + "".join(parts) + '"')

DURATIONS = st.tuples(
    st.integers(0, 100_000).map(str), st.sampled_from(["ms", "s", "m", "h", "d"])
).map("".join)

INTS = st.integers(-(2**63), 2**63 - 1).map(str)

DECIMALS = st.tuples(st.integers(-1000, 1000), st.integers(0, 999)).map(
    lambda parts: f"{parts[0]}.{parts[1]}"
)


def _fixed_terminals() -> dict[str, st.SearchStrategy[str]]:
    return {name: _spaced(st.just(text)) for name, text in fixed_texts(parser()).items()}


def _explicit_terminals() -> dict[str, st.SearchStrategy[str]]:
    return _fixed_terminals() | {
        "NAME": _spaced(NAMES),
        "STRING": _spaced(STRINGS),
        "DURATION": _spaced(DURATIONS),
        "INT": _spaced(INTS),
        "DECIMAL": _spaced(DECIMALS),
        "WS": _SEPARATOR,
        "COMMENT": st.just("  # a comment\n"),
    }


_PROCESS_ITEMS = (
    "key_decl",
    "event_decl",
    "data_decl",
    "signal_decl",
    "task_decl",
    "start_decl",
    "complete_decl",
    "fail_decl",
    "cancel_decl",
)
_MACHINE_ITEMS = ("states_clause", "initial_clause", "final_clause", "transition")


@cache
def _generator() -> Lark:
    # A parser with many start rules, for generation only: left to itself,
    # from_lark favours the shortest expansions and rarely reaches a transition.
    return Lark(grammar_text(), parser="lalr", start=["start", *_PROCESS_ITEMS, *_MACHINE_ITEMS])


def _rule(name: str) -> st.SearchStrategy[str]:
    generator = _generator()
    # from_lark refuses explicit strategies for terminals the rule cannot reach.
    _, rules, ignored = generator.grammar.compile([name], ())
    used = {symbol.name for rule in rules for symbol in rule.expansion if symbol.is_term}
    explicit = {
        name: strategy
        for name, strategy in _explicit_terminals().items()
        if name in used or name in ignored
    }
    return from_lark(generator, start=name, explicit=explicit)


def _block(
    keyword: str,
    items: st.SearchStrategy[str],
    max_size: int,
    first: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[str]:
    """``keyword NAME { first items... }``."""
    first = st.just("") if first is None else first
    return st.tuples(_spaced(NAMES), first, st.lists(items, max_size=max_size)).map(
        lambda parts: f"\n{keyword} {parts[0]} {{" + parts[1] + "\n".join(parts[2]) + "\n}"
    )


def programs() -> st.SearchStrategy[str]:
    """Texts the grammar derives, with sane tokens and whitespace between them.

    Whole files come from the grammar's start rule; richer ones are assembled
    from declarations and machine members that the grammar derives one by one.
    """
    # A machine's `data` block, if any, comes first.
    first = st.one_of(st.just(""), _rule("data_decl"))
    machine = _block("machine", st.one_of([_rule(name) for name in _MACHINE_ITEMS]), 8, first)
    declaration = st.one_of([machine, *(_rule(name) for name in _PROCESS_ITEMS)])
    return st.one_of(_rule("start"), _block("process", declaration, 8))


# ---- mutations ------------------------------------------------------------------

_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|[0-9]+\w*|->|\s+|.')


def tokens(text: str) -> list[str]:
    """A rough split into tokens and the whitespace between them."""
    return _TOKENS.findall(text)


@st.composite
def mutated_examples(draw: st.DrawFn, max_edits: int = 4) -> str:
    """An example after a few random edits: the kind of text an editor sees mid-typing."""
    text = draw(st.sampled_from(EXAMPLE_TEXTS))
    for _ in range(draw(st.integers(1, max_edits))):
        text = draw(edited(text))
    return text


def edited(text: str) -> st.SearchStrategy[str]:
    """``text`` after one edit."""
    parts = tokens(text)
    index = st.integers(0, max(len(parts) - 1, 0))
    position = st.integers(0, len(text))
    noise = st.one_of(
        st.sampled_from([*'{}()[]:;,.=->*|"#\\@', "\n", "\t", "\u00a0", "\x00", "é"]),
        st.text(max_size=3),
        st.sampled_from(sorted(keywords())),
    )

    def delete(i: int) -> str:
        return "".join(parts[:i] + parts[i + 1 :])

    def duplicate(i: int) -> str:
        return "".join(parts[: i + 1] + parts[i:])

    def swap(i: int) -> str:
        j = min(i + 1, len(parts) - 1)
        swapped = parts.copy()
        swapped[i], swapped[j] = swapped[j], swapped[i]
        return "".join(swapped)

    def insert(at: int, what: str) -> str:
        return text[:at] + what + text[at:]

    inserted = st.tuples(position, noise).map(lambda args: insert(*args))
    if not parts:
        return inserted
    return st.one_of(
        index.map(delete),
        index.map(duplicate),
        index.map(swap),
        position.map(lambda at: text[:at]),  # truncated
        position.map(lambda at: text[:at] + text[at + 1 :]),  # a character deleted
        inserted,
    )
