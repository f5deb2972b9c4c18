"""Parsing for the editor: after a keystroke, only the top-level blocks whose text changed.

A ``.pm`` file is one ``process NAME { ... }`` whose body is a flat list of
declarations. Every declaration with a body (``machine``, ``event``,
``task``, ``signal``, ``data``) ends with the ``}`` that brings the brace
depth back to the process's, and nothing else in the grammar holds a brace;
so the body is cut right after each such ``}`` into *chunks* (a chunk also
takes the brace-less declarations before its block: ``key``, ``start on``,
``complete when``...). Each chunk is parsed alone, as the body of a process
of its own whose first line puts the chunk at the column it has in the file,
and its declarations are kept by its exact text: a keystroke re-parses the
one chunk it changed, and the others are only moved to their new lines.

The result is the full parse's, by construction:

- the cut needs only strings, comments and braces, found with the lexer's
  own patterns; a lone ``"``, an unbalanced brace, text after the process or
  a file over the parser's size limits means no cut;
- declarations concatenate in the grammar (``_process_item*``) and a ``}``
  is a token of its own, so chunks that each parse, parse as one body;
- any chunk with an error, or a header that is not ``process NAME {``, means
  the full parse instead, so every error and its message are the full
  parse's own. The recovery of the errors after the first
  (:func:`pmc.syntax.parser.more_errors`) parses the text again with the
  broken statement blanked: that text goes chunk by chunk too, and only a
  chunk that still has an error sends it to the full parse.

The full parse itself resumes where the document's last full parse stood at
the start of a chunk (:class:`pmc.syntax.parser.Resume`), at the last such
checkpoint before the first character that changed: typing through a broken
line late in the file parses from its chunk's start, not from the file's.

tests/syntax/test_incremental.py applies random edits to the examples and
compares every step with :func:`pmc.syntax.parser.parse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from functools import cache, lru_cache
from typing import Any, TypeVar

from pmc.diagnostics import Diagnostic
from pmc.source import SourceFile, Span
from pmc.syntax import ast
from pmc.syntax.parser import (
    MAX_SOURCE_BYTES,
    MAX_TOKENS,
    ParseResult,
    Resume,
    parse,
    parse_once,
    parse_process,
    scan_comments,
)

# The lexer's STRING and COMMENT (grammar/pm.lark; a SourceFile holds no `\r`),
# then the characters that matter alone: braces, and a `"` no string matched.
_SCAN = re.compile(r'"(?:\\.|[^"\\\n])*"|#[^\n]*|[{}"]')
# What may follow the process: the lexer's ignored whitespace and comments.
_TRAILER = re.compile(r"(?:[ \t\f\n]|#[^\n]*)*")
# A chunk is parsed as the body of this process, on its second line.
_WRAPPER_HEAD = "process P {\n"
_WRAPPER_LINE = 2
_WRAPPER_TOKENS = 4  # `process`, `P`, `{` and `}`


@dataclass(frozen=True, slots=True)
class Cut:
    """Where ``text`` splits: the header up to the process's `{`, the chunks, the closing `}`."""

    body_start: int  # just after the process's `{`
    chunk_starts: tuple[int, ...]  # the first is body_start
    body_end: int  # the process's closing `}`


def cut(text: str) -> Cut | None:
    """The chunks of ``text``'s process body, or None when braces or strings do not allow a cut."""
    depth = 0
    body_start: int | None = None
    starts: list[int] = []
    for match in _SCAN.finditer(text):
        token = match.group()
        if token == "{":
            depth += 1
            if body_start is None:
                body_start = match.end()
                starts.append(body_start)
        elif token == "}":
            depth -= 1
            if depth == 1:
                starts.append(match.end())
            elif depth == 0:
                if body_start is None or _TRAILER.fullmatch(text, match.end()) is None:
                    return None
                return Cut(body_start, tuple(starts), match.start())
            elif depth < 0:
                return None
        elif token == '"':
            return None  # unterminated: the lexer's error
    return None


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A chunk's declarations as parsed inside the wrapper, and the tokens it read."""

    declarations: tuple[ast.Declaration, ...]
    tokens: int


_ParsedKey = tuple[int, str]  # a chunk's column and text
_PlacedKey = tuple[int, int, str]  # a chunk's line, column and text


@dataclass(frozen=True, slots=True)
class _Kept:
    """The chunks of one text: parsed (None: with an error), and their declarations placed."""

    parsed: dict[_ParsedKey, _Chunk | None] = field(default_factory=dict)
    placed: dict[_PlacedKey, tuple[ast.Declaration, ...]] = field(default_factory=dict)


class IncrementalParser:
    """:func:`pmc.syntax.parser.parse`, reusing the chunks of the previous texts.

    One per document. It keeps the chunks of the last text that parsed, and
    those of the last text that did not, up to its error (typing through a
    broken line re-parses only the chunk with the error, up to the error);
    the rest is dropped, so its memory is that of two parses, plus the last
    full parse's checkpoints at the chunks' starts (parser stacks that share
    their trees: a reference per tree and chunk before it). What it keeps
    is only ever replaced whole, so two threads parsing at once at worst
    miss it.
    """

    def __init__(self) -> None:
        self._good = _Kept()
        self._attempt = _Kept()
        self._resume = Resume()

    def parse(self, source: SourceFile) -> ParseResult:
        module = self._incremental(source)
        if module is not None:
            return ParseResult(module, ())
        return parse(source, self._parse_once, self._resume)

    def _parse_once(self, source: SourceFile) -> ast.Module | Diagnostic:
        """:func:`pmc.syntax.parser.parse_once`, chunk by chunk when that can tell: after a
        syntax error, the text with the broken statement blanked differs from the last
        one only in that statement's chunk."""
        module = self._incremental(source)
        return module if module is not None else parse_once(source, self._resume)

    def _incremental(self, source: SourceFile) -> ast.Module | None:
        """The module parsed chunk by chunk, or None when only the full parse can tell."""
        text = source.text
        if source.truncated or len(text.encode("utf-8", errors="surrogatepass")) > MAX_SOURCE_BYTES:
            return None
        where = cut(text)
        self._resume.marks = where.chunk_starts if where is not None else ()
        if where is None:
            return None
        header = _header(text[: where.body_start])
        if header is None:
            return None
        header_process, tokens = header
        bounds = zip(where.chunk_starts, (*where.chunk_starts[1:], where.body_end), strict=True)
        kept = _Kept()
        declarations: list[ast.Declaration] = []
        for start, end in bounds:
            line, column = source.position(start)
            chunk_text = text[start:end]
            chunk = kept.parsed[column, chunk_text] = self._chunk(column, chunk_text)
            if chunk is None:
                self._attempt = kept
                return None
            tokens += chunk.tokens - _WRAPPER_TOKENS
            key = (line, column, chunk_text)
            moved = self._placed(key)
            if moved is None:
                moved = moved_down(chunk.declarations, line - _WRAPPER_LINE)
            kept.placed[key] = moved
            declarations.extend(moved)
        if tokens + 1 > MAX_TOKENS:  # + the closing `}`
            return None
        self._good, self._attempt = kept, _Kept()
        end_line, end_column = source.position(where.body_end + 1)
        span = Span(header_process.span.line, header_process.span.column, end_line, end_column)
        process = ast.Process(header_process.name, tuple(declarations), span)
        return ast.Module(process, scan_comments(text, source))

    def _chunk(self, column: int, text: str) -> _Chunk | None:
        for kept in (self._good, self._attempt):
            if (column, text) in kept.parsed:
                return kept.parsed[column, text]
        wrapped = f"{_WRAPPER_HEAD}{' ' * (column - 1)}{text}\n}}"
        process, tokens = parse_process(SourceFile("", wrapped))
        if isinstance(process, Diagnostic):
            return None
        return _Chunk(process.declarations, tokens)

    def _placed(self, key: _PlacedKey) -> tuple[ast.Declaration, ...] | None:
        for kept in (self._good, self._attempt):
            if key in kept.placed:
                return kept.placed[key]
        return None


@lru_cache(maxsize=16)  # a few documents' headers; typing in one makes new ones
def _header(text: str) -> tuple[ast.Process, int] | None:
    """The process of ``text`` + ``}`` (its name and start) and the header's tokens."""
    process, tokens = parse_process(SourceFile("", text + "}"))
    return None if isinstance(process, Diagnostic) else (process, tokens - 1)


_N = TypeVar("_N")


def moved_down(node: _N, lines: int) -> _N:
    """``node`` with every span in it ``lines`` lines further down (a new tree)."""
    if lines == 0:
        return node
    return _moved(node, lines)  # type: ignore[no-any-return]


def _moved(root: Any, lines: int) -> Any:
    # A loop, not a recursion: a long sum is a tree as deep as its terms, and
    # `pmc check` reports one that is too deep (PM0005) instead of overflowing.
    built: list[Any] = []  # the moved nodes, children before their parent
    todo: list[tuple[Any, int | None]] = [(root, None)]  # a node, and its parts once they are built
    while todo:
        node, parts = todo.pop()
        if parts is not None:
            children = built[len(built) - parts :]
            del built[len(built) - parts :]
            built.append(tuple(children) if isinstance(node, tuple) else type(node)(*children))
        elif isinstance(node, Span):
            built.append(
                Span(node.line + lines, node.column, node.end_line + lines, node.end_column)
            )
        else:
            items = _items(node)
            if items is None:
                built.append(node)  # a str, int, Decimal, enum or None
            else:
                todo.append((node, len(items)))
                todo.extend((item, None) for item in reversed(items))
    return built[0]


def _items(node: Any) -> tuple[Any, ...] | None:
    """A tuple's items or an AST node's fields in order; None for a value."""
    if isinstance(node, tuple):
        return node
    names = _field_names(node.__class__)
    return tuple(getattr(node, name) for name in names) if names else None


@cache
def _field_names(kind: type) -> tuple[str, ...]:
    """The fields of an AST node's class; none for a value."""
    return tuple(f.name for f in fields(kind)) if hasattr(kind, "__dataclass_fields__") else ()


__all__ = ["Cut", "IncrementalParser", "cut", "moved_down"]
