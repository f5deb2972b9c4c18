"""Where the parser got stuck: a :class:`Stuck` captured from lark's state.

When the parser cannot take a token, :func:`capture` records what a rule may
look at: the token it could not take, the last token it took, the terminals it
would have accepted, lark's value stack of unfinished constructs and the
brackets still open. The functions at the end say where a caret belongs.

The expected set comes from the interactive parser's ``accepts()``: LALR
merges states, so the parse table (``error.expected``) can list terminals that
would in fact fail a few reductions later.
"""

from __future__ import annotations

from dataclasses import dataclass

from lark import Token
from lark.exceptions import LarkError
from lark.parsers.lalr_interactive_parser import InteractiveParser

from pmc.source import SourceFile, Span
from pmc.syntax.errors.expected import CHARACTER, END, terminal_text

CLOSER = {"LBRACE": "RBRACE", "LPAR": "RPAR", "LSQB": "RSQB"}
# Keywords that start a construct worth naming in a message ("machine `M`").
CONSTRUCTS = frozenset(
    {
        "PROCESS",
        "EVENT",
        "SIGNAL",
        "DATA",
        "TASK",
        "MACHINE",
        "RETURNS",
        "RUN",
        "EMIT",
        "TRANSITION",
    }
)
# Clauses whose `(` holds `field = value` arguments.
CALLS = frozenset({"run", "emit"})


@dataclass(frozen=True, slots=True)
class Block:
    """An opened ``{``, ``(`` or ``[`` that is not closed yet."""

    kind: str  # "machine", "run", "type", ...
    name: str | None
    opener: Token

    @property
    def title(self) -> str:
        if self.kind in CALLS:
            return f"the arguments of `{self.kind} {self.name}`" if self.name else "the arguments"
        if self.kind == "expression":
            return "the parentheses"
        if self.kind == "data":
            return "the `data` block"
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
        if isinstance(value, Token) and value.type in CLOSER:
            blocks.append(_block_of(stack, index, value))
    return tuple(blocks)


def _block_of(stack: tuple[object, ...], index: int, opener: Token) -> Block:
    owner = stack[index - 1] if index > 0 else None
    if opener.type == "LSQB":
        return Block("type", str(owner) if isinstance(owner, Token) else None, opener)
    if opener.type == "LPAR" and not (isinstance(owner, Token) and owner.type == "NAME"):
        # Arguments follow a task's or signal's name; any other `(` groups an expression.
        return Block("expression", None, opener)
    if opener.type == "LBRACE" and isinstance(owner, Token) and owner.type == "DATA":
        return Block("data", None, opener)  # not named after the process or machine around it
    name: str | None = None
    for value in reversed(stack[:index]):
        if not isinstance(value, Token):
            continue
        if value.type == "NAME" and name is None:
            name = str(value)
        elif value.type in CONSTRUCTS:
            return Block(str(value), name, opener)
    return Block("block", name, opener)  # pragma: no cover - every bracket has an owner


def accepts(interactive: InteractiveParser) -> frozenset[str]:
    return frozenset(interactive.accepts())  # type: ignore[no-untyped-call]


def _fixed_by_closing(interactive: InteractiveParser, block: Block | None, bad: Token) -> bool:
    """Would the parser take ``bad`` once the innermost bracket were closed?"""
    if block is None or bad.type in (END, CHARACTER):
        return False
    probe = interactive.copy(deepcopy_values=False)  # type: ignore[no-untyped-call]
    closer = CLOSER[block.opener.type]
    try:
        probe.feed_token(Token(closer, terminal_text(closer) or ""))
    except LarkError:
        return False
    return bad.type in probe.accepts()


def capture(
    interactive: InteractiveParser, bad: Token, previous: Token | None, source: SourceFile
) -> Stuck:
    """What a rule may look at, for a parser stuck at ``bad`` just after ``previous``."""
    stack = tuple(interactive.parser_state.value_stack)
    blocks = open_blocks(stack)
    return Stuck(
        source=source,
        bad=bad,
        previous=previous,
        accepts=accepts(interactive),
        stack=stack,
        blocks=blocks,
        fixed_by_closing=_fixed_by_closing(interactive, blocks[-1] if blocks else None, bad),
    )


# ---- where a caret belongs -----------------------------------------------------


def after_token(token: Token) -> Span:
    """A one-column span just after ``token``: where something is missing."""
    assert token.end_line is not None and token.end_column is not None
    return Span.point(token.end_line, token.end_column)


def on_token(token: Token) -> Span:
    line = token.line or 1
    column = token.column or 1
    end_line = token.end_line or line
    end_column = token.end_column or column + 1
    return Span(
        line, column, end_line, max(end_column, column + 1) if end_line == line else end_column
    )


def extended(span: Span, columns: int) -> Span:
    return Span(span.line, span.column, span.end_line, span.end_column + columns)


def missing_at(stuck: Stuck) -> Span:
    """After the last good token: for something missing."""
    return after_token(stuck.previous) if stuck.previous is not None else on_token(stuck.bad)


def smart_at(stuck: Stuck) -> Span:
    """On the bad token if it sits on the same line as the last good one, else after that.

    A token on the next line usually means the previous line is unfinished,
    and the caret belongs where the missing piece should have been.
    """
    previous = stuck.previous
    if previous is None:
        return on_token(stuck.bad)
    if stuck.bad.type == END or (stuck.bad.line or 0) > (previous.end_line or 0):
        return after_token(previous)
    return on_token(stuck.bad)
