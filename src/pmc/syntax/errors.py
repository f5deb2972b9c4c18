"""Syntax errors in plain words.

Lark reports what it expected as terminal names (``COLON``, ``NAME``); people
want "expected `:` after the transition name `close`". When the parser gets
stuck, :func:`explain` looks at where it stopped (the token it could not take,
the last token it took, the terminals it would have accepted, and lark's value
stack of unfinished constructs) and tries a list of rules, most specific first.
Each rule recognises one common mistake and says what to write instead; the
last one is a generic "unexpected X; expected Y".

The expected set comes from the interactive parser's ``accepts()``: LALR
merges states, so the parse table (``error.expected``) can list terminals that
would in fact fail a few reductions later.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from lark import Token
from lark.exceptions import LarkError
from lark.lexer import PatternStr
from lark.parsers.lalr_interactive_parser import InteractiveParser

from pmc.diagnostics import Diagnostic, Label
from pmc.source import SourceFile, Span
from pmc.syntax.grammar import parser

END = "$END"
# The type given to a single character that no terminal matches, so that the
# same rules can explain both a bad token and a bad character.
CHARACTER = "<character>"

_LITERALS = frozenset({"STRING", "INT", "DECIMAL", "TRUE", "FALSE", "NONE"})
_REGEX_TERMINAL_WORDS = {
    "NAME": "a name",
    "DURATION": "a duration such as `30s`",
    "INT": "an integer",
    "DECIMAL": "a decimal number",
    "STRING": 'a string such as `"text"`',
    END: "the end of the file",
}
_DURATION_EXAMPLES = "`30s`, `500ms`, `5m`, `2h`, `1d`"
_DURATION_UNITS = ("ms", "s", "m", "h", "d")
# What follows a number the lexer could not read as a duration.
_UNIT_LIKE = re.compile(r"[A-Za-z_]+")
_COMPOUND_DURATION = re.compile(r"(?:ms|s|m|h|d)(?:[0-9]+(?:ms|s|m|h|d))+(?![A-Za-z0-9_])")
_RETRY_WITH_UNIT = re.compile(r"\bretry\s+([0-9]+)\Z")
_FIELD_BLOCKS = frozenset({"event", "task", "returns"})
_TASK_KEYWORDS = ("retry", "timeout", "returns", "backoff", "every", "max")
# Words that continue a `retry` clause, and are field names anywhere else.
_RETRY_PARTS = frozenset({"backoff", "every", "max"})
_CLOSER = {"LBRACE": "RBRACE", "LPAR": "RPAR", "LSQB": "RSQB"}
# Keywords that start a construct worth naming in a message ("machine `M`").
_CONSTRUCTS = frozenset({"PROCESS", "EVENT", "TASK", "MACHINE", "RETURNS", "RUN", "TRANSITION"})
_MAX_SHOWN = 32


# ---- describing terminals and tokens ----------------------------------------


@cache
def _literal_patterns() -> dict[str, str]:
    """Terminal name -> its text, for terminals that match one fixed string."""
    return {
        terminal.name: terminal.pattern.value
        for terminal in parser().terminals
        if isinstance(terminal.pattern, PatternStr)
    }


def keyword_text(terminal: str) -> str | None:
    """``TRANSITION`` -> ``transition``; None for punctuation and regex terminals."""
    text = _literal_patterns().get(terminal)
    return text if text is not None and text.isidentifier() else None


@cache
def keyword_terminals() -> frozenset[str]:
    """Terminals that read like names: ``TRANSITION``, ``RETRY``, ``TRUE``..."""
    return frozenset(name for name in _literal_patterns() if keyword_text(name) is not None)


def terminal_text(terminal: str) -> str | None:
    """The fixed text of a terminal (``:``, ``->``, ``transition``), if it has one."""
    return _literal_patterns().get(terminal)


def describe_terminal(name: str) -> str:
    """A terminal in plain words: "`:`", "`transition`", "a name"."""
    if name in _REGEX_TERMINAL_WORDS:
        return _REGEX_TERMINAL_WORDS[name]
    text = terminal_text(name)
    return f"`{text}`" if text is not None else "a token"


def _join(words: Iterable[str], conjunction: str = "or") -> str:
    items = list(words)
    if not items:
        return "nothing more"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def describe_expected(names: Iterable[str]) -> str:
    """An expected set in plain words, literals folded into "a value"."""
    names = set(names)
    words: list[str] = []
    if len(names & _LITERALS) > 1:
        names -= _LITERALS
        words.append("a value")
    words.extend(sorted({describe_terminal(name) for name in names} - {"a token"}))
    return _join(words)


def shorten(text: str) -> str:
    """Keep messages readable when the offending token is huge."""
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def describe_character(character: str) -> str:
    if character.isprintable() and not character.isspace():
        return f"`{character}`"
    name = unicodedata.name(character, "")
    code = f"U+{ord(character):04X}"
    return f"`{code}` ({name.lower()})" if name else f"`{code}`"


def describe_token(token: Token) -> str:
    if token.type == END:
        return "the end of the file"
    if token.type == CHARACTER:
        return f"character {describe_character(str(token))}"
    return f"`{shorten(str(token))}`"


# ---- where the parser stopped ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """An opened ``{``, ``(`` or ``[`` that is not closed yet."""

    kind: str  # "machine", "run", "type", ...
    name: str | None
    opener: Token

    @property
    def title(self) -> str:
        if self.kind == "run":
            return f"the arguments of `run {self.name}`" if self.name else "the arguments"
        if self.kind == "type":
            return f"type `{self.name}`" if self.name else "the type"
        if self.kind == "returns":
            return "`returns`"
        return f"{self.kind} `{self.name}`" if self.name else f"the {self.kind}"


@dataclass(frozen=True, slots=True)
class Stuck:
    """Everything a rule may look at when the parser cannot go on."""

    source: SourceFile
    bad: Token  # the token it could not take (type END at the end of the file)
    previous: Token | None  # the last token it took
    accepts: frozenset[str]  # terminals that would have let it go on
    stack: tuple[object, ...]  # lark's value stack: unfinished constructs
    blocks: tuple[Block, ...]  # open brackets, outermost first
    fixed_by_closing: bool  # closing the innermost block would let `bad` through

    @property
    def block(self) -> Block | None:
        return self.blocks[-1] if self.blocks else None

    @property
    def block_kind(self) -> str | None:
        return self.blocks[-1].kind if self.blocks else None

    def stack_token(self, index: int) -> Token | None:
        """The value-stack entry at ``index`` (negative), if it is a token."""
        if -index > len(self.stack):
            return None
        value = self.stack[index]
        return value if isinstance(value, Token) else None


def open_blocks(stack: tuple[object, ...]) -> tuple[Block, ...]:
    """The brackets still open in lark's value stack, each with what it belongs to."""
    blocks = []
    for index, value in enumerate(stack):
        if isinstance(value, Token) and value.type in _CLOSER:
            blocks.append(_block_of(stack, index, value))
    return tuple(blocks)


def _block_of(stack: tuple[object, ...], index: int, opener: Token) -> Block:
    if opener.type == "LSQB":
        owner = stack[index - 1] if index > 0 else None
        return Block("type", str(owner) if isinstance(owner, Token) else None, opener)
    name: str | None = None
    for value in reversed(stack[:index]):
        if not isinstance(value, Token):
            continue
        if value.type == "NAME" and name is None:
            name = str(value)
        elif value.type in _CONSTRUCTS:
            return Block(str(value), name, opener)
    return Block("block", name, opener)  # pragma: no cover - every bracket has an owner


def _after(token: Token) -> Span:
    """A one-column span just after ``token``: where something is missing."""
    assert token.end_line is not None and token.end_column is not None
    return Span.point(token.end_line, token.end_column)


def _on(token: Token) -> Span:
    line = token.line or 1
    column = token.column or 1
    end_line = token.end_line or line
    end_column = token.end_column or column + 1
    return Span(
        line, column, end_line, max(end_column, column + 1) if end_line == line else end_column
    )


def _extend(span: Span, columns: int) -> Span:
    return Span(span.line, span.column, span.end_line, span.end_column + columns)


def _missing_at(stuck: Stuck) -> Span:
    """After the last good token: for something missing."""
    return _after(stuck.previous) if stuck.previous is not None else _on(stuck.bad)


def _smart_at(stuck: Stuck) -> Span:
    """On the bad token if it sits on the same line as the last good one, else after that.

    A token on the next line usually means the previous line is unfinished,
    and the caret belongs where the missing piece should have been.
    """
    previous = stuck.previous
    if previous is None:
        return _on(stuck.bad)
    if stuck.bad.type == END or (stuck.bad.line or 0) > (previous.end_line or 0):
        return _after(previous)
    return _on(stuck.bad)


# ---- spelling ------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, swaps."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def closest_keyword(word: str, keywords: Iterable[str]) -> str | None:
    """The keyword ``word`` is most likely a misspelling of, if any is close enough."""
    lowered = word.lower()
    best: tuple[int, str] | None = None
    for keyword in sorted(keywords):
        if keyword == word:
            continue
        limit = 1 if len(keyword) <= 4 else 2
        if abs(len(word) - len(keyword)) > limit:
            continue  # a cheap lower bound; huge words would make the distance slow
        distance = edit_distance(lowered, keyword)
        if distance <= limit and len(word) >= 2 and (best is None or distance < best[0]):
            best = (distance, keyword)
    return best[1] if best else None


def _keywords(terminals: Iterable[str]) -> list[str]:
    return [text for text in map(keyword_text, terminals) if text is not None]


# ---- the rules -------------------------------------------------------------------

Rule = Callable[[Stuck], Diagnostic | None]


def _empty_file(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != END or stuck.previous is not None:
        return None
    return Diagnostic(
        "PM0002",
        "the file is empty; expected `process Name { ... }`",
        _on(stuck.bad),
        help="a `.pm` file holds one process: `process Name { ... }`",
    )


def _misspelled_keyword(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != "NAME":
        return None
    suggestion = closest_keyword(str(stuck.bad), _keywords(stuck.accepts))
    if suggestion is None:
        return None
    return Diagnostic(
        "PM0001",
        f"misspelled keyword `{stuck.bad}`; did you mean `{suggestion}`?",
        _on(stuck.bad),
        label=f"did you mean `{suggestion}`?",
    )


def _misspelled_task_keyword(stuck: Stuck) -> Diagnostic | None:
    """``retyr 3`` in a task: a field name is allowed there, so the typo is noticed late."""
    previous = stuck.stack_token(-1)
    if (
        stuck.block_kind != "task"
        or previous is None
        or previous.type != "NAME"
        or stuck.bad.type == "COLON"
    ):
        return None
    suggestion = closest_keyword(str(previous), _TASK_KEYWORDS)
    if suggestion is None:
        return None
    return Diagnostic(
        "PM0001",
        f"misspelled keyword `{previous}`; did you mean `{suggestion}`?",
        _on(previous),
        label=f"did you mean `{suggestion}`?",
    )


def _missing_process_keyword(stuck: Stuck) -> Diagnostic | None:
    if stuck.stack or stuck.accepts != {"PROCESS"}:
        return None
    declaration = keyword_text(stuck.bad.type) is not None
    return Diagnostic(
        "PM0001",
        f"expected `process` at the start of the file, found {describe_token(stuck.bad)}",
        _on(stuck.bad),
        label="expected `process`",
        help="wrap the declarations in `process Name { ... }`"
        if declaration
        else "a `.pm` file holds one process: `process Name { ... }`",
    )


def _process_name(stuck: Stuck) -> str | None:
    name = stuck.stack[1] if len(stuck.stack) > 1 else None
    return str(name) if isinstance(name, Token) and name.type == "NAME" else None


def _after_the_process(stuck: Stuck) -> Diagnostic | None:
    if stuck.accepts != {END} or stuck.previous is None or stuck.previous.type != "RBRACE":
        return None
    name = _process_name(stuck)
    ends_here = Label(
        _on(stuck.previous), f"process `{name}` ends here" if name else "the process ends here"
    )
    if stuck.bad.type == "RBRACE":
        return Diagnostic(
            "PM0001",
            "unexpected `}`: the process is already closed",
            _on(stuck.bad),
            labels=(ends_here,),
            help="remove this `}`, or the one above that closes the process too early",
        )
    if stuck.bad.type == "PROCESS":
        return Diagnostic(
            "PM0001",
            "a `.pm` file holds one process; found a second `process`",
            _on(stuck.bad),
            labels=(ends_here,),
            help="put each process in a file of its own",
        )
    return Diagnostic(
        "PM0001",
        f"unexpected {describe_token(stuck.bad)} after the end of the process",
        _on(stuck.bad),
        labels=(ends_here,),
        help="declarations belong inside the process's `{ ... }`; "
        "is a `}` above closing it too early?",
    )


def _unclosed_at_end(stuck: Stuck) -> Diagnostic | None:
    block = stuck.block
    if stuck.bad.type != END or block is None:
        return None
    opener = block.opener
    if _CLOSER[opener.type] in stuck.accepts:
        return Diagnostic(
            "PM0002",
            f"unclosed `{opener}` of {block.title} opened at line {opener.line}",
            _missing_at(stuck),
            label=f"expected `{terminal_text(_CLOSER[opener.type])}`",
            labels=(Label(_on(opener), "opened here"),),
        )
    expected = describe_expected(stuck.accepts)
    return Diagnostic(
        "PM0002",
        f"unexpected end of file; expected {expected}",
        _missing_at(stuck),
        label=f"expected {expected}",
        labels=(Label(_on(opener), f"{block.title} starts here"),),
    )


def _missing_closer(stuck: Stuck) -> Diagnostic | None:
    """``machine M { ...`` followed by ``complete when``: the machine's ``}`` is missing."""
    block = stuck.block
    if block is None or not stuck.fixed_by_closing or stuck.bad.type == END:
        return None
    closer = terminal_text(_CLOSER[block.opener.type])
    return Diagnostic(
        "PM0001",
        f"expected `{closer}` to close {block.title} before {describe_token(stuck.bad)}",
        _missing_at(stuck),
        label=f"expected `{closer}`",
        labels=(Label(_on(block.opener), f"{block.title} opened here"),),
    )


def _reserved_word_as_field(stuck: Stuck) -> Diagnostic | None:
    previous = stuck.stack_token(-1)
    if (
        stuck.bad.type != "COLON"
        or previous is None
        or keyword_text(previous.type) is None
        or stuck.block_kind not in _FIELD_BLOCKS
    ):
        return None
    retry_part = str(previous) in _RETRY_PARTS
    return Diagnostic(
        "PM0001",
        f"`{previous}` is a reserved word here and cannot be used as a field name",
        _on(previous),
        label="reserved word",
        help=f"end the `retry` clause with `;`, or declare `{previous}` before it"
        if retry_part
        else "choose another name for the field",
    )


def _equals_for_colon(stuck: Stuck) -> Diagnostic | None:
    previous = stuck.previous
    if (
        stuck.bad.type != "EQUAL"
        or "COLON" not in stuck.accepts
        or previous is None
        or stuck.block_kind not in _FIELD_BLOCKS
    ):
        return None
    return Diagnostic(
        "PM0001",
        "`=` is not how fields are typed: write `name: type`",
        _on(stuck.bad),
        label="expected `:`",
        help=f'write `{previous}: str`, and `{previous}: str = "value"` to give a default',
    )


def _missing_colon_after_field(stuck: Stuck) -> Diagnostic | None:
    previous = stuck.stack_token(-1)
    if (
        stuck.accepts != {"COLON"}
        or previous is None
        or previous.type != "NAME"
        or stuck.block_kind not in _FIELD_BLOCKS
    ):
        return None
    return Diagnostic(
        "PM0001",
        f"expected `:` after the field name `{previous}`",
        _missing_at(stuck),
        label="expected `:`",
        help=f"fields are written `name: type`, e.g. `{previous}: str`",
    )


def _missing_colon_after_transition_name(stuck: Stuck) -> Diagnostic | None:
    keyword = stuck.stack_token(-2)
    name = stuck.stack_token(-1)
    if stuck.accepts != {"COLON"} or keyword is None or keyword.type != "TRANSITION":
        return None
    return Diagnostic(
        "PM0001",
        f"expected `:` after the transition name `{name}`",
        _missing_at(stuck),
        label="expected `:`",
        help="write `transition name: From -> To on Trigger`",
    )


def _comma_between_fields(stuck: Stuck) -> Diagnostic | None:
    if (
        stuck.bad.type != "COMMA"
        or stuck.block_kind not in _FIELD_BLOCKS
        or not {"NAME", "RBRACE"} <= stuck.accepts
    ):
        return None
    return Diagnostic(
        "PM0001",
        "fields are separated by newlines or `;`, not `,`",
        _on(stuck.bad),
        label="replace with a newline or `;`",
    )


def _arrow_terminal() -> str:
    return next(name for name, text in _literal_patterns().items() if text == "->")


def _missing_arrow(stuck: Stuck) -> Diagnostic | None:
    if _arrow_terminal() not in stuck.accepts or "COMMA" not in stuck.accepts:
        return None
    return Diagnostic(
        "PM0001",
        "expected `->` between the source states and the target state",
        _missing_at(stuck) if stuck.bad.type == "NAME" else _smart_at(stuck),
        label="expected `->`",
        help="write `transition name: From -> To on Trigger`",
    )


def _missing_on(stuck: Stuck) -> Diagnostic | None:
    if stuck.accepts != {"ON"}:
        return None
    target = stuck.stack_token(-1)
    return Diagnostic(
        "PM0001",
        "missing `on` before the trigger",
        _missing_at(stuck),
        label="expected `on`",
        help=f"write `-> {target} on EventName`" if target is not None else None,
    )


def _expected_source_state(stuck: Stuck) -> Diagnostic | None:
    if stuck.accepts != {"NAME", "STAR"}:
        return None
    literal = stuck.bad.type in _LITERALS | {"DURATION"}
    return Diagnostic(
        "PM0001",
        "expected a state name or `*`",
        _on(stuck.bad) if literal else _missing_at(stuck),
        label="expected a state name or `*`",
    )


def _expected_target_state(stuck: Stuck) -> Diagnostic | None:
    arrow = stuck.stack_token(-1)
    if stuck.accepts == {"ON"} and str(stuck.stack_token(-1)) == "on":
        # `A -> on E`: the lexer took `on` for the target state's name.
        arrow = stuck.stack_token(-2)
    elif stuck.accepts != {"NAME"}:
        return None
    if arrow is None or str(arrow) != "->":
        return None
    return Diagnostic(
        "PM0001",
        "expected the target state after `->`",
        _after(arrow),
        label="expected a state name",
    )


def _missing_trigger(stuck: Stuck) -> Diagnostic | None:
    previous = stuck.stack_token(-1)
    if previous is None or previous.type != "ON" or stuck.block_kind != "machine":
        return None
    return Diagnostic(
        "PM0001",
        "expected a trigger after `on`",
        _missing_at(stuck),
        label="expected a trigger",
        help="a trigger is `EventName`, `EventName.field`, `TaskName completed`, "
        "`TaskName failed` or `after 5m`",
    )


def _missing_declaration_name(stuck: Stuck) -> Diagnostic | None:
    keyword = stuck.stack_token(-1)
    if stuck.accepts != {"NAME"} or keyword is None or keyword.type not in _CONSTRUCTS:
        return None
    kind = str(keyword)
    message = (
        "missing process name after `process`"
        if kind == "process"
        else f"expected the {kind} name after `{kind}`"
    )
    return Diagnostic(
        "PM0001",
        message,
        _missing_at(stuck),
        label="expected a name",
        help="write `process Name { ... }`" if kind == "process" else None,
    )


def _missing_open_brace(stuck: Stuck) -> Diagnostic | None:
    if "LBRACE" not in stuck.accepts or "NAME" in stuck.accepts:
        return None
    kind = next(
        (str(v) for v in reversed(stuck.stack) if isinstance(v, Token) and v.type in _CONSTRUCTS),
        None,
    )
    if kind is None:
        return None
    expected = describe_expected(stuck.accepts)
    name = stuck.stack_token(-1)
    where = f"the {kind} name `{name}`" if name is not None and name.type == "NAME" else f"`{kind}`"
    return Diagnostic(
        "PM0001",
        f"expected {expected} after {where}",
        _smart_at(stuck),
        label=f"expected {expected}",
    )


def _duration_needs_unit(stuck: Stuck) -> Diagnostic | None:
    """A number where a duration belongs: the lexer split `30sec` into `30` and `sec`."""
    if "DURATION" not in stuck.accepts or stuck.bad.type not in {"INT", "DECIMAL"}:
        return None
    if stuck.bad.type == "DECIMAL":
        return Diagnostic(
            "PM0006",
            f"a duration is a whole number with a unit: {_DURATION_EXAMPLES}",
            _on(stuck.bad),
            label="not a whole number",
            help="use a smaller unit, e.g. `90m` rather than `1.5h`",
        )
    rest = stuck.source.text[stuck.bad.end_pos or 0 :]
    if str(stuck.bad).startswith("-"):
        return _negative_duration(stuck.bad, rest)
    compound = _COMPOUND_DURATION.match(rest)
    if compound:
        return _compound_duration(stuck.bad, compound.group())
    word = _UNIT_LIKE.match(rest)
    if word:
        return _unknown_unit(stuck.bad, word.group())
    return _unitless(stuck.bad, rest)


def _negative_duration(number: Token, rest: str) -> Diagnostic:
    # The lexer reads `-5s` as the integer `-5` and a word `s`, so without
    # this the message would call `s` an unknown unit.
    unit = _UNIT_LIKE.match(rest)
    written = str(number) + (unit.group() if unit else "")
    return Diagnostic(
        "PM0006",
        f"a duration cannot be negative: `{shorten(written)}`",
        _extend(_on(number), len(written) - len(str(number))),
        label="negative duration",
        help="durations are whole numbers with a unit, e.g. " + _DURATION_EXAMPLES,
    )


def _compound_duration(number: Token, rest: str) -> Diagnostic:
    return Diagnostic(
        "PM0006",
        f"a duration has one number and one unit, not `{shorten(str(number) + rest)}`",
        _extend(_on(number), len(rest)),
        label="compound duration",
        help="convert to the smaller unit, e.g. `90m` rather than `1h30m`",
    )


def _unknown_unit(number: Token, unit: str) -> Diagnostic:
    return Diagnostic(
        "PM0006",
        f"unknown duration unit `{shorten(unit)}` in `{number}{shorten(unit)}`",
        _extend(_on(number), len(unit)),
        label="unknown unit",
        help="units are `ms`, `s`, `m`, `h` and `d`, e.g. " + _DURATION_EXAMPLES,
    )


def _unitless(number: Token, rest: str) -> Diagnostic:
    spaced = rest.lstrip(" \t")
    spaced_unit = next((u for u in _DURATION_UNITS if _starts_with_word(spaced, u)), None)
    return Diagnostic(
        "PM0006",
        f"a duration needs a unit: {_DURATION_EXAMPLES}",
        _on(number),
        label="no unit",
        help=f"write `{number}{spaced_unit}`, without a space"
        if spaced_unit
        else f"write `{number}s` for {number} seconds",
    )


def _starts_with_word(text: str, word: str) -> bool:
    if not text.startswith(word):
        return False
    following = text[len(word) : len(word) + 1]
    return not (following.isalnum() or following == "_")


def _retry_count(stuck: Stuck) -> Diagnostic | None:
    """``retry 3s``: after ``retry`` the lexer reads ``3`` and then a field named ``s``."""
    previous = stuck.stack_token(-1)
    if previous is not None and previous.type == "RETRY" and stuck.bad.type == "DURATION":
        span = _on(stuck.bad)
    elif previous is not None and previous.type == "NAME" and stuck.block_kind == "task":
        before = stuck.source.text[: previous.start_pos or 0]
        match = _RETRY_WITH_UNIT.search(before)
        if match is None:
            return None
        start = _on(previous)
        span = Span(
            start.line, start.column - len(match.group(1)), start.end_line, start.end_column
        )
    else:
        return None
    return Diagnostic(
        "PM0001",
        "`retry` takes a number of retries, not a duration",
        span,
        label="expected a number",
        help="write e.g. `retry 3 backoff 2s max 1m`",
    )


def _run_arguments(stuck: Stuck) -> Diagnostic | None:
    block = stuck.block
    if block is None or block.kind != "run":
        return None
    previous = stuck.stack_token(-1)
    if stuck.accepts == {"EQUAL"} and previous is not None:
        return Diagnostic(
            "PM0001",
            f"expected `=` after `{previous}` in {block.title}",
            _missing_at(stuck),
            label="expected `=`",
            help="arguments are written `field = value`, e.g. `reason = event.reason`",
        )
    if stuck.accepts == {"COMMA", "RPAR"}:
        return Diagnostic(
            "PM0001",
            f"expected `,` between the arguments of `run {block.name}` or `)` after them",
            _smart_at(stuck),
            label="expected `,` or `)`",
            labels=(Label(_on(block.opener), "`(` opened here"),),
        )
    return None


def _unterminated_string(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != CHARACTER or str(stuck.bad) != '"':
        return None
    line = stuck.bad.line or 1
    column = stuck.bad.column or 1
    end = len(stuck.source.line_text(line)) + 1
    return Diagnostic(
        "PM0004",
        "unterminated string",
        Span(line, column, line, max(end, column + 1)),
        label="this string is not closed",
        help='close it with `"` before the end of the line; strings cannot span lines',
    )


def _non_ascii_letter(stuck: Stuck) -> Diagnostic | None:
    character = str(stuck.bad)
    if stuck.bad.type != CHARACTER or not character.isalnum() or character.isascii():
        return None
    return Diagnostic(
        "PM0003",
        f"unexpected character {describe_character(character)}: "
        "names use ASCII letters, digits and `_`",
        _on(stuck.bad),
        label="not ASCII",
    )


def _generic(stuck: Stuck) -> Diagnostic:
    expected = describe_expected(stuck.accepts)
    if stuck.bad.type == END:
        return Diagnostic(
            "PM0002",
            f"unexpected end of file; expected {expected}",
            _missing_at(stuck),
            label=f"expected {expected}",
        )
    code = "PM0003" if stuck.bad.type == CHARACTER else "PM0001"
    after = f" after {describe_token(stuck.previous)}" if stuck.previous is not None else ""
    return Diagnostic(
        code,
        f"unexpected {describe_token(stuck.bad)}{after}; expected {expected}",
        _smart_at(stuck),
        label=f"expected {expected}",
    )


RULES: tuple[Rule, ...] = (
    _empty_file,
    _unterminated_string,
    _non_ascii_letter,
    _missing_process_keyword,
    _after_the_process,
    _misspelled_keyword,
    _misspelled_task_keyword,
    _unclosed_at_end,
    _reserved_word_as_field,
    _equals_for_colon,
    _retry_count,
    _missing_colon_after_field,
    _missing_colon_after_transition_name,
    _comma_between_fields,
    _missing_declaration_name,
    _duration_needs_unit,
    _missing_closer,
    _run_arguments,
    _expected_target_state,
    _missing_arrow,
    _missing_on,
    _expected_source_state,
    _missing_trigger,
    _missing_open_brace,
)


def describe(stuck: Stuck) -> Diagnostic:
    for rule in RULES:
        diagnostic = rule(stuck)
        if diagnostic is not None:
            return diagnostic
    return _generic(stuck)


# ---- from lark's parser state to a Stuck -------------------------------------------


def accepts(interactive: InteractiveParser) -> frozenset[str]:
    return frozenset(interactive.accepts())  # type: ignore[no-untyped-call]


def _fixed_by_closing(interactive: InteractiveParser, block: Block | None, bad: Token) -> bool:
    """Would the parser take ``bad`` once the innermost bracket were closed?"""
    if block is None or bad.type in (END, CHARACTER):
        return False
    probe = interactive.copy(deepcopy_values=False)  # type: ignore[no-untyped-call]
    closer = _CLOSER[block.opener.type]
    try:
        probe.feed_token(Token(closer, terminal_text(closer) or ""))
    except LarkError:
        return False
    return bad.type in probe.accepts()


def explain(
    interactive: InteractiveParser, bad: Token, previous: Token | None, source: SourceFile
) -> Diagnostic:
    """The diagnostic for a parser stuck at ``bad``, just after ``previous``."""
    stack = tuple(interactive.parser_state.value_stack)
    blocks = open_blocks(stack)
    stuck = Stuck(
        source=source,
        bad=bad,
        previous=previous,
        accepts=accepts(interactive),
        stack=stack,
        blocks=blocks,
        fixed_by_closing=_fixed_by_closing(interactive, blocks[-1] if blocks else None, bad),
    )
    return describe(stuck)
