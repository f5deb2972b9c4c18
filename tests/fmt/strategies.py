"""Hypothesis strategies for ``.pm`` text: generated from the grammar, or mutated examples."""

from __future__ import annotations

import re

from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from pmc.syntax.grammar import build_parser, fixed_texts

# Never keywords, so that the contextual lexer cannot read them as one; one
# is long so that generated lines cross the width limit.
_NAMES = ["a", "B", "x_1", "Order", "_t", "reviewer", "AVeryLongNameThatFillsTheLineQuickly"]
_UNITS = ["ms", "s", "m", "h", "d"]
_STRING_CHARS = st.sampled_from(["a", " ", "é", "\t", "'", "#", "{", "😀"])
_STRING_ESCAPES = st.sampled_from(['\\"', "\\\\", "\\n", "\\t", "\\r"])


def _token(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # from_lark joins tokens with no separator and only sometimes adds
    # ignored ones, which mostly glues words together: end every token
    # with a space, and let the WS strategy vary the layout.
    return strategy.map(lambda text: text + " ")


def _numbers(signed: bool) -> st.SearchStrategy[str]:
    digits = st.from_regex(r"[0-9]{1,4}", fullmatch=True)
    if not signed:
        return digits
    return st.tuples(st.sampled_from(["", "-"]), digits).map("".join)


_STRING = st.lists(st.one_of(_STRING_CHARS, _STRING_ESCAPES), max_size=6).map(
    lambda parts: '"' + "".join(parts) + '"'
)
_DURATION = st.tuples(_numbers(signed=False), st.sampled_from(_UNITS)).map("".join)
_DECIMAL = st.tuples(_numbers(signed=True), _numbers(signed=False)).map(".".join)
_WHITESPACE = st.sampled_from([" ", "\n", "\n\n\n", "\t", "\r\n"])
_COMMENT = st.from_regex(r"#[ a-z#\"]{0,12}", fullmatch=True).map(lambda text: text + "\n")


def _from_grammar(start: str) -> st.SearchStrategy[str]:
    grammar: Lark = build_parser(strict=False)
    explicit: dict[str, st.SearchStrategy[str]] = {
        name: _token(st.just(text)) for name, text in fixed_texts(grammar).items()
    }
    explicit |= {
        "NAME": _token(st.sampled_from(_NAMES)),
        "STRING": _token(_STRING),
        "DURATION": _token(_DURATION),
        "INT": _token(_numbers(signed=True)),
        "DECIMAL": _token(_DECIMAL),
        "WS": _WHITESPACE,
        "COMMENT": _COMMENT,
    }
    # from_lark refuses strategies for terminals that `start` cannot reach.
    _, rules, ignored = grammar.grammar.compile([start], ())
    used = {symbol.name for rule in rules for symbol in rule.expansion if symbol.is_term}
    used |= set(ignored)
    explicit = {name: strategy for name, strategy in explicit.items() if name in used}
    return from_lark(grammar, start=start, explicit=explicit)


def _maybe(rule: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), _from_grammar(rule))


# A transition's clauses are each optional in the grammar, so a generated
# transition seldom has several: this one draws each clause half the time.
_clauses = st.tuples(
    _from_grammar("trigger"),
    _maybe("guard"),
    _maybe("keep_clause"),
    _maybe("run_clause"),
    _maybe("set_clause"),
    st.lists(_from_grammar("emit_clause"), max_size=2).map("".join),
)
_rich_transition = _clauses.map(lambda parts: f"transition t: A -> B on {''.join(parts)}")

# Whole files straight from the grammar: rich in process-level clauses, but
# machines and tasks are rare there, so they also get a strategy of their own.
whole_files = _from_grammar("start")
_transitions = st.lists(_from_grammar("transition"), min_size=1, max_size=4).map(
    lambda transitions: f"machine M {{ {''.join(transitions)} }}"
)
_rich_transitions = st.tuples(
    _maybe("data_decl"), st.lists(_rich_transition, min_size=1, max_size=3)
).map(lambda parts: f"machine M {{ {parts[0]}{''.join(parts[1])} }}")
_declarations = st.one_of(
    _transitions,
    _rich_transitions,
    _from_grammar("machine_decl"),
    _from_grammar("task_decl"),
    _from_grammar("event_decl"),
    _from_grammar("data_decl"),
    _from_grammar("signal_decl"),
    _from_grammar("complete_decl"),
    _from_grammar("fail_decl"),
)
assembled_files = st.tuples(
    st.sampled_from(["", "# header\n"]), st.lists(_declarations, min_size=1, max_size=4)
).map(lambda parts: f"{parts[0]}process P {{ {''.join(parts[1])} }}")
generated_programs = st.one_of(whole_files, assembled_files)
# The second edition's forms in every program: data, signals, a machine of
# transitions with clauses, and conditions that may end with a data expression.
second_edition_programs = st.tuples(
    _from_grammar("data_decl"),
    _from_grammar("signal_decl"),
    _rich_transitions,
    _from_grammar("complete_decl"),
    _from_grammar("fail_decl"),
).map(lambda parts: f"process P {{ {''.join(parts)} }}")


_LINE_COMMENT = st.from_regex(r"# ?[a-z {}\"#]{0,15}", fullmatch=True)


@st.composite
def with_comments_at_line_ends(draw: st.DrawFn, text: str) -> str:
    """``text`` with comments added at the end of some lines, and some own-line ones.

    A few edits rather than a choice per line, so that big files stay cheap to
    generate and a failure shrinks to the one comment that matters.
    """
    lines = text.split("\n")
    where = st.integers(0, len(lines) - 1)
    edits = draw(st.lists(st.tuples(where, st.booleans(), _LINE_COMMENT), max_size=12))
    for number, own_line, comment in sorted(edits, reverse=True):
        if own_line:
            lines.insert(number, comment)
        else:
            # Before a CR of a CRLF: a comment runs to the LF and would swallow it.
            line = lines[number].removesuffix("\r")
            lines[number] = line + f"  {comment}" + lines[number][len(line) :]
    return "\n".join(lines)


# A string, a comment, a run of whitespace, or anything else up to the next of those.
_SEGMENT = re.compile(r'"(?:\\.|[^"\\\r\n])*"|#[^\n]*|\s+|[^\s"#]+')
_SPACES = st.sampled_from([" ", "\n", "  \n\n    ", "\t", " \n ", "\r\n"])


@st.composite
def reflowed(draw: st.DrawFn, text: str) -> str:
    """``text`` with its whitespace changed: same tokens, another layout.

    Every run of whitespace becomes one drawn spelling (all on one line, one
    token per line, ...), then a few runs get another one.
    """
    segments = _SEGMENT.findall(text)
    spaces = [n for n, segment in enumerate(segments) if segment.isspace()]
    everywhere = draw(_SPACES)
    edits = dict(draw(st.lists(st.tuples(st.sampled_from(spaces), _SPACES), max_size=20)))
    out = list(segments)
    for n in spaces:
        space = edits.get(n, everywhere)
        # A comment runs to the end of its line: keep the line break after it.
        after_comment = segments[n - 1].startswith("#")
        out[n] = space if "\n" in space or not after_comment else "\n"
    return "".join(out)
