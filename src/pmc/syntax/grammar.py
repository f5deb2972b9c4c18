"""The lark parser for ``grammar/pm.lark``: built once, then loaded from the user's cache.

Building the LALR tables and the contextual lexer takes several times as
long as starting Python and importing lark (and far longer when interegular
is installed: lark then checks every pair of terminals for collisions), and
`pmc check` in a pre-commit hook or an editor starts a new process every
time. So the built parser is saved with lark's own ``Lark.save`` in the
user's cache directory, under a name that changes with everything the
tables are made from: the grammar, this module (the options and the keyword
edit), lark's version and Python's. A loaded parser is the built one,
serialized after a line with the digest of those bytes; a missing,
unreadable, unwritable, damaged or shared cache only means building.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import lark
from lark import Lark
from lark.lexer import (
    BasicLexer,
    ContextualLexer,
    Pattern,
    PatternRE,
    PatternStr,
    Scanner,
    TerminalDef,
)

from pmc._resources import read_text

if TYPE_CHECKING:
    # Only in lark >= 1.2.2; pyproject allows lark 1.2.
    from lark.utils import TextSlice

# A keyword followed by one of these is part of a longer word.
_NOT_IN_A_WORD = "(?![A-Za-z0-9_])"
_KEYWORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)" + re.escape(_NOT_IN_A_WORD))
# Above NAME's 0, so a word that is both a keyword and a name is the keyword
# wherever the parser accepts that keyword, as lark does for string terminals.
_KEYWORD_PRIORITY = 2
# The first word of a saved parser file, before its key and its pickle's digest.
_MAGIC = "pmc-parser"

_log = logging.getLogger(__name__)


def _whole_words(terminal: TerminalDef) -> None:
    """Make a keyword terminal match whole words only.

    Lark matches a string terminal at the start of a longer word where no name
    may go: after `when`, `notdata.flag` would read as `not data.flag`.
    """
    pattern = terminal.pattern
    if isinstance(pattern, PatternStr) and pattern.value.isidentifier():
        terminal.pattern = PatternRE(re.escape(pattern.value) + _NOT_IN_A_WORD, pattern.flags)
        terminal.priority = _KEYWORD_PRIORITY


def _fixed_text(pattern: Pattern) -> str | None:
    if isinstance(pattern, PatternStr):
        return pattern.value
    keyword = _KEYWORD.fullmatch(pattern.value)
    return keyword.group(1) if keyword is not None else None


def fixed_texts(lark: Lark) -> dict[str, str]:
    """Terminal name -> the one text it matches (`:`, `transition`), for such terminals."""
    texts = {terminal.name: _fixed_text(terminal.pattern) for terminal in lark.terminals}
    return {name: text for name, text in texts.items() if text is not None}


def grammar_text() -> str:
    return read_text("grammar", "pm.lark")


@cache
def parser() -> Lark:
    directory = cache_dir()
    built = build_parser(strict=False) if directory is None else cached_parser(directory)
    share_root_scanner(built)
    return built


class _FirstAllowed:
    """A state's ``match``: the root scanner's answer when the state allows it.

    A regex alternation takes its first alternative that matches, and lark
    orders every state's terminals as it orders all of them (priority, then
    width, then name), so the first terminal of all that matches, when a
    state allows it, is also the first of that state's that matches: its
    token. Only when the state does not allow it is the state's own scanner
    compiled and asked.
    """

    __slots__ = ("allowed", "lexer", "root")

    def __init__(self, root: Scanner, lexer: BasicLexer) -> None:
        self.root = root
        self.lexer = lexer
        self.allowed = frozenset(terminal.name for terminal in lexer.terminals)

    def __call__(self, text: TextSlice[str], pos: int) -> tuple[str, str] | None:
        found: tuple[str, str] | None = self.root.match(text, pos)
        if found is None or found[1] in self.allowed:
            return found
        own: tuple[str, str] | None = self.lexer.scanner.match(text, pos)
        return own


def share_root_scanner(built: Lark) -> None:
    """Let the contextual lexer's states share one compiled regex of all terminals.

    Lark compiles a regex of its terminals for each parser state the lexer
    meets: some forty for a small file, most of the time a `pmc check` spends
    parsing, in every new process (``re`` caches per process). One regex of
    all terminals gives the same tokens (see ``_FirstAllowed``) as long as
    lark keeps every terminal as it is: no string terminal folded into a
    regex one with a callback (``_create_unless``), which pm.lark's
    keywords, made regexes by ``_whole_words``, never are.

    This leans on lark's internals, which pyproject's range of lark versions
    need not keep: whatever is not as expected leaves lark's lexer as it is.
    """
    shareable = _shareable(built)
    if shareable is None:
        return
    for state, match in shareable:
        state.callback = {}  # what lark's own scanner would have set: no callbacks
        state.match = match  # type: ignore[method-assign]


def _shareable(built: Lark) -> tuple[tuple[BasicLexer, _FirstAllowed], ...] | None:
    """Each state's lexer and the ``match`` that shares the root scanner, or None when
    lark is not as this module knows it (nothing is changed until all is checked)."""
    try:
        lexer = built.parser.lexer
        if not isinstance(lexer, ContextualLexer) or not isinstance(lexer.root_lexer, BasicLexer):
            return None
        root = lexer.root_lexer
        scanner = root.scanner
        if root.callback or scanner.allowed_types != {terminal.name for terminal in root.terminals}:
            return None
        states = tuple({id(state): state for state in lexer.lexers.values()}.values())
        if not (callable(scanner.match) and all(_lexes_by_match(state) for state in states)):
            return None
        return tuple(
            (state, _FirstAllowed(scanner, state))
            for state in states
            if isinstance(state, BasicLexer)
        )
    except (AttributeError, TypeError):  # a part missing, or of another kind
        return None


def _lexes_by_match(state: object) -> bool:
    """Whether ``state`` is a lexer that takes its tokens from its ``match``."""
    return not isinstance(state, BasicLexer) or callable(getattr(state, "match", None))


def cache_dir() -> Path | None:
    """Where built parsers are kept: ``$PMC_CACHE_DIR``, else the user's cache directory.

    A parser is loaded from it with pickle, so ``cached_parser`` uses it only
    when it is the user's own and no one else may write it.
    """
    configured = os.environ.get("PMC_CACHE_DIR")
    if configured:
        return Path(configured)
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"], "pmc", "Cache")
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"], "pmc")
    try:
        return Path.home() / ".cache" / "pmc"
    except RuntimeError:  # no home directory to speak of
        return None


def cache_key() -> str:
    """A digest of everything the parser is built from, so a change builds it anew."""
    digest = hashlib.sha256()
    for part in (grammar_text(), Path(__file__).read_text(encoding="utf-8"), lark.__version__):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(repr(sys.version_info[:2]).encode("ascii"))
    return digest.hexdigest()[:32]


def cached_parser(directory: Path) -> Lark:
    """The parser saved in ``directory`` for this grammar, or built (and saved there).

    Nothing is loaded from, or saved in, a directory someone else could write:
    the file is unpickled, so whoever writes it runs code in every `pmc check`.
    """
    try:
        key = cache_key()
    except OSError:  # pmc's source cannot be read (a zip import): nothing to key a cache on
        return build_parser(strict=False)
    path = directory / f"parser-{key}.lark"
    if not _private_or_absent(directory):
        _log.debug("parser cache %s is not private to this user: not used", directory)
        return build_parser(strict=False)
    loaded = _load(path, key)
    if loaded is not None:
        return loaded
    built = build_parser(strict=False)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _save(built, path, key)
    except OSError:
        pass  # a read-only or full disk: the next run builds again
    return built


def _private_or_absent(directory: Path) -> bool:
    try:
        return _private(directory.stat())
    except FileNotFoundError:
        return True  # created below, private
    except OSError:
        return False


def _private(status: os.stat_result) -> bool:
    """Whether only this user can have written a file or directory with ``status``."""
    if not hasattr(os, "geteuid"):  # Windows: the user's own profile directory
        return True
    writable_by_others = status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return status.st_uid == os.geteuid() and not writable_by_others


def _header(key: str, payload: bytes) -> bytes:
    """The saved file's first line: what it was built from and the digest of the pickle after."""
    return f"{_MAGIC} {key} {hashlib.sha256(payload).hexdigest()}\n".encode("ascii")


def _load(path: Path, key: str) -> Lark | None:
    """The parser saved at ``path``, or None when it is missing, not ours, or damaged.

    Unpickling damaged bytes can raise almost anything, or even give a parser
    that refuses valid input; so the pickle is only loaded when its digest is
    the one saved with it, and whatever loading raises only means building.
    """
    try:
        with path.open("rb") as stream:
            if not _private(os.fstat(stream.fileno())):
                return None
            content = stream.read()
        header, _, payload = content.partition(b"\n")
        if header + b"\n" != _header(key, payload):
            return None
        return Lark.load(io.BytesIO(payload))
    except Exception:  # unpickling damaged bytes raises anything: it only costs a build
        return None


def _save(built: Lark, path: Path, key: str) -> None:
    """Write ``path`` in one step: a process starting meanwhile reads no half-written parser."""
    pickled = io.BytesIO()
    # The keyword edit has been applied to the terminals saved.
    built.save(pickled, exclude_options=("edit_terminals",))
    payload = pickled.getvalue()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(_header(key, payload) + payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_parser(*, strict: bool) -> Lark:
    """Build the LALR parser; ``strict=True`` turns grammar conflicts into errors."""
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
        edit_terminals=_whole_words,
    )
