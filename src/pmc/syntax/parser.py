"""Entry point of the syntax stage: ``parse(source) -> ParseResult``.

Lark exceptions never leave this package: every failure becomes a
:class:`~pmc.diagnostics.Diagnostic`.

The parser is driven token by token through lark's interactive parser rather
than ``Lark.parse``: at the same speed, it lets us stop hostile input early
(too many tokens, brackets nested too deeply) and, on a syntax error, know the
last token that was accepted, which is where a caret for "something is
missing" belongs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedToken, VisitError
from lark.parsers.lalr_interactive_parser import InteractiveParser

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.syntax.builder import AstBuilder, InvalidLiteral, token_span
from pmc.syntax.errors import CHARACTER, END, explain, keyword_terminals
from pmc.syntax.grammar import parser
from pmc.syntax.recovery import (
    COMMENT_OR_STRING,
    blank_statement,
    brackets_balance,
    is_recoverable,
)

# Generous for real processes (the reference example is 900 bytes and 150
# tokens; 50,000 tokens is about 5,000 transitions), small enough that hostile
# input fails fast: lark lexes and parses some 50,000 tokens a second, and the
# AST builder and semantics take as long again.
MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_TOKENS = 50_000
# After the first syntax error, at most this many more are looked for, and
# only in files of a size people write by hand: each one costs a new parse.
MAX_SYNTAX_ERRORS = 10
MAX_RECOVERY_CHARACTERS = 64 * 1024
# Open `{`, `(` and `[` at once. The grammar nests at most a few levels apart
# from types (`list[dict[str, list[int]]]`); bounding the brackets bounds the
# depth of the parse tree, which the AST builder walks recursively. A run of
# `not`s nests the tree as deeply, so each `not` counts as a level too.
MAX_NESTING = 32

_BEFORE_CHECKPOINT = frozenset(" \t\f\n}")
_OPENERS = frozenset({"LBRACE", "LPAR", "LSQB"})
_CLOSERS = frozenset({"RBRACE", "RPAR", "RSQB"})


@dataclass(frozen=True, slots=True)
class ParseResult:
    module: ast.Module | None
    diagnostics: tuple[Diagnostic, ...]


def parse(
    source: SourceFile,
    parse_again: Callable[[SourceFile], ast.Module | Diagnostic] | None = None,
    resume: Resume | None = None,
) -> ParseResult:
    """The module, or the syntax errors: the first, then those :func:`more_errors` finds
    by parsing again with ``parse_again`` (by default :func:`parse_once`)."""
    size = len(source.text.encode("utf-8", errors="surrogatepass"))
    if source.truncated or size > MAX_SOURCE_BYTES:
        # A reader stops after the limit: the true size of a truncated file is unknown.
        amount = f"more than {MAX_SOURCE_BYTES:,}" if source.truncated else f"{size:,}"
        return _failure(
            Diagnostic(
                "PM0005",
                f"file is too large ({amount} bytes; the limit is {MAX_SOURCE_BYTES:,})",
                Span.point(1, 1),
                help="split the process into smaller ones",
            )
        )
    outcome = parse_once(source, resume)
    if isinstance(outcome, ast.Module):
        return ParseResult(outcome, ())
    return ParseResult(None, (outcome, *more_errors(source, outcome, parse_again or parse_once)))


def parse_once(source: SourceFile, resume: Resume | None = None) -> ast.Module | Diagnostic:
    """The module, or the first error in ``source``."""
    process = parse_process(source, resume)[0]
    if isinstance(process, Diagnostic):
        return process
    return ast.Module(process, scan_comments(source.text, source))


def parse_process(
    source: SourceFile, resume: Resume | None = None
) -> tuple[ast.Process | Diagnostic, int]:
    """The process in ``source`` (or its first error) and how many tokens were read."""
    tree, tokens = parse_tree(source, resume)
    if isinstance(tree, Diagnostic):
        return tree, tokens
    try:
        process = AstBuilder().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, InvalidLiteral):
            invalid = error.orig_exc
            return Diagnostic(
                invalid.code, invalid.message, invalid.span, help=invalid.help
            ), tokens
        raise
    assert isinstance(process, ast.Process)
    return process, tokens


def more_errors(
    source: SourceFile,
    first: Diagnostic,
    parse_again: Callable[[SourceFile], ast.Module | Diagnostic],
) -> list[Diagnostic]:
    """Errors after ``first``, found by blanking each broken statement in turn and
    parsing the text again with ``parse_again``, which must answer as :func:`parse_once`
    (the editor's parser reuses the blocks the blanking left alone)."""
    found: list[Diagnostic] = []
    error = first
    text = source.text
    if len(text) > MAX_RECOVERY_CHARACTERS or not brackets_balance(text):
        # A missing or extra bracket moves every later statement into
        # another block: what follows could only be a cascade.
        return found
    while len(found) < MAX_SYNTAX_ERRORS - 1 and is_recoverable(error):
        blanked = blank_statement(text, error.span.line)
        if blanked is None:
            break
        text = blanked.text
        outcome = parse_again(SourceFile(source.path, text))
        # An error on the line right after the blanked ones is most likely the
        # broken statement's tail, read as the start of the next one.
        if isinstance(outcome, ast.Module) or outcome.span.line <= blanked.last_line + 1:
            break
        error = outcome
        found.append(error)
    return found


def parse_tree(
    source: SourceFile, resume: Resume | None = None
) -> tuple[Tree[Token] | Diagnostic, int]:
    """Lark's parse tree of ``source``, or the one diagnostic explaining why there is none,
    and how many tokens were read (the incremental parser adds them up)."""
    counted = _Count()
    return _parse_tree(source, counted, resume), counted.tokens


@dataclass(slots=True)
class _Count:
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The parse just before the token at ``position``, what it had read and where it stood.

    Lexing and parsing go left to right and look at nothing else, so a parse of
    any text with the same characters before ``position`` is in this very state
    there: it can start from here, with the same outcome.
    """

    position: int
    line: int
    column: int
    states: tuple[Any, ...]
    values: tuple[Any, ...]
    previous: Token | None
    tokens: int
    depth: int
    nots: int


@dataclass(slots=True)
class Resume:
    """Where to take checkpoints in the next parse of one document, and the last parse's.

    ``marks`` are positions (the editor's chunk starts): a checkpoint is taken
    at the first token at or after each, if it follows a space or a ``}`` (the
    token before cannot have run on into it). A parse given a Resume starts
    from the last checkpoint whose text it shares and leaves its own in
    ``taken``, with its text; each field is only ever replaced whole.
    """

    marks: tuple[int, ...] = ()
    taken: tuple[str, tuple[Checkpoint, ...]] = ("", ())


def _resumed(
    interactive: InteractiveParser, text: str, resume: Resume | None
) -> tuple[Checkpoint | None, list[Checkpoint]]:
    """The checkpoint ``interactive`` now stands at (None: the start), and those before it."""
    if resume is None:
        return None, []
    before, checkpoints = resume.taken
    kept = list(checkpoints)
    while kept and not text.startswith(before[: kept[-1].position]):
        kept.pop()
    if not kept:
        return None, []
    last = kept[-1]
    _restore(interactive, (list(last.states), list(_detached(last.values))))
    lexer = interactive.lexer_thread.state
    assert lexer is not None  # parse_interactive gave it the text
    counter = lexer.line_ctr
    counter.char_pos, counter.line, counter.column = last.position, last.line, last.column
    counter.line_start_pos = last.position - last.column + 1
    lexer.last_token = last.previous
    return last, kept[:-1]


def _parse_tree(
    source: SourceFile, counted: _Count, resume: Resume | None
) -> Tree[Token] | Diagnostic:
    interactive = parser().parse_interactive(source.text)
    start, taken = _resumed(interactive, source.text, resume)
    previous: Token | None = start.previous if start else None
    depth = start.depth if start else 0
    nots = start.nots if start else 0  # `not`s in a row, brackets between them included
    counted.tokens = start.tokens if start else 0
    marks = iter(resume.marks if resume else ())
    mark = next(marks, None)
    while mark is not None and start is not None and mark <= start.position:
        mark = next(marks, None)
    if start is not None:
        taken.append(start)
    try:
        tokens = interactive.lexer_thread.lex(interactive.parser_state)  # type: ignore[no-untyped-call]
        for token in tokens:
            if mark is not None and token.start_pos >= mark:
                if token.start_pos and source.text[token.start_pos - 1] in _BEFORE_CHECKPOINT:
                    state = interactive.parser_state
                    taken.append(
                        Checkpoint(
                            token.start_pos,
                            token.line,
                            token.column,
                            tuple(state.state_stack),
                            _detached(state.value_stack),
                            previous,
                            counted.tokens,
                            depth,
                            nots,
                        )
                    )
                while mark is not None and mark <= token.start_pos:
                    mark = next(marks, None)
            counted.tokens += 1
            if counted.tokens > MAX_TOKENS:
                return _too_many_tokens(token)
            depth += (token.type in _OPENERS) - (token.type in _CLOSERS)
            nots = nots + 1 if token.type == "NOT" else nots if token.type in _OPENERS else 0
            if depth + nots > MAX_NESTING:
                return _too_deep(token, "an expression is" if nots else "brackets are")
            if not _feed(interactive, token):
                return explain(interactive, token, previous, source)
            previous = token
        end = end_token(source)
        try:
            result = interactive.feed_token(end)
        except UnexpectedToken:
            return explain(interactive, end, previous, source)
    except UnexpectedToken as error:
        # The contextual lexer found a token that is valid elsewhere in the
        # grammar but not here; the parser state is still just before it.
        return explain(interactive, error.token, previous, source)
    except UnexpectedCharacters as error:
        return explain(interactive, character_token(error, source), previous, source)
    except LarkError as error:  # pragma: no cover - lark has no other input errors for LALR
        return Diagnostic("PM0001", f"syntax error ({type(error).__name__})", _at(previous))
    finally:
        if resume is not None:
            resume.taken = (source.text, tuple(taken))
    assert isinstance(result, Tree)
    return result


def _feed(interactive: InteractiveParser, token: Token) -> bool:
    """Feed one token; on failure, leave the parser as it was just before it.

    Lark reduces on the lookahead before it notices the token does not fit,
    and the error rules should see the state that knows everything that could
    have come next, not a reduced one.

    A keyword the parser rejects is tried again as a name: LALR merges states,
    so after a field's type in an event the contextual lexer also expects a
    task's `retry` or `timeout`, and reads a next field named `retry` as the
    keyword. A keyword is meant to be reserved only where it can actually go.
    """
    state = interactive.parser_state
    saved = (state.state_stack.copy(), state.value_stack.copy())
    if _try_feed(interactive, token):
        return True
    _restore(interactive, saved)
    if token.type not in keyword_terminals():
        return False
    if _try_feed(interactive, Token.new_borrow_pos("NAME", str(token), token)):
        return True
    _restore(interactive, saved)
    return False


def _try_feed(interactive: InteractiveParser, token: Token) -> bool:
    try:
        interactive.feed_token(token)
    except UnexpectedToken:
        return False
    return True


def _detached(values: Iterable[Any]) -> tuple[Any, ...]:
    """``values`` with each tree copied one level down.

    Lark builds an ``x*`` list by appending each new item to the children of
    the list tree before it, so a parse that goes on from a value stack would
    grow the lists a checkpoint holds (and a checkpoint reused would carry
    the items of the parse it was last resumed in). Only the trees on the
    stack can still grow: those inside them are finished.
    """
    return tuple(
        Tree(value.data, list(value.children), value.meta) if isinstance(value, Tree) else value
        for value in values
    )


def _restore(interactive: InteractiveParser, saved: tuple[list[Any], list[Any]]) -> None:
    # In place: the lexer consults this very state object to pick its context.
    interactive.parser_state.state_stack[:] = saved[0]
    interactive.parser_state.value_stack[:] = saved[1]


def end_token(source: SourceFile) -> Token:
    line, column = source.position(len(source.text))
    return Token(END, "", len(source.text), line, column, line, column, len(source.text))


def character_token(error: UnexpectedCharacters, source: SourceFile) -> Token:
    """The character the lexer could not match, as a token the error rules can look at."""
    position = error.pos_in_stream or 0
    line, column = source.position(position)
    character = source.text[position : position + 1] or " "
    return Token(CHARACTER, character, position, line, column, line, column + 1, position + 1)


def _at(token: Token | None) -> Span:
    return token_span(token) if token is not None else Span.point(1, 1)


def _too_many_tokens(token: Token) -> Diagnostic:
    return Diagnostic(
        "PM0005",
        f"the file has too many tokens (the limit is {MAX_TOKENS:,})",
        token_span(token),
        label="the limit is reached here",
        help="split the process into smaller ones",
    )


def _too_deep(token: Token, subject: str) -> Diagnostic:
    return Diagnostic(
        "PM0005",
        f"{subject} nested too deeply (the limit is {MAX_NESTING} levels)",
        token_span(token),
        label="one level too many",
    )


def scan_comments(text: str, source: SourceFile) -> tuple[ast.Comment, ...]:
    """Every ``#`` comment, skipping ``#`` inside string literals."""
    comments = []
    for match in COMMENT_OR_STRING.finditer(text):
        if match.group().startswith("#"):
            line, column = source.position(match.start())
            end_line, end_column = source.position(match.end())
            comments.append(
                ast.Comment(match.group().rstrip("\r"), Span(line, column, end_line, end_column))
            )
    return tuple(comments)


def _failure(diagnostic: Diagnostic) -> ParseResult:
    return ParseResult(None, (diagnostic,))


__all__ = [
    "MAX_NESTING",
    "MAX_SOURCE_BYTES",
    "MAX_SYNTAX_ERRORS",
    "MAX_TOKENS",
    "ParseResult",
    "parse",
]
