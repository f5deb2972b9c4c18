"""What may be typed at the cursor: the slot from the words before it, the names from the index.

The text being typed rarely parses (``-> `` with nothing after it is a
syntax error), so the slot is read from the words before the cursor: after
``->`` or in a transition's sources a state, after ``on`` an event, a signal
or a task, after ``run`` a task, after ``emit`` a signal, after ``data.`` a
field of the process's data... The enclosing machine and transition are
found the same way (the last ``machine NAME`` still open, the last
``transition NAME``). The candidates themselves come from a
:class:`~pmc.lsp.index.SymbolIndex`: of this text when it parses, else of
the last text that did (the server keeps it).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from pmc.lsp.index import FAILED_SCOPE, Kind, SymbolId, SymbolIndex
from pmc.syntax.errors.expected import keyword_terminals, keyword_texts

# Comments and strings are skipped whole: a `->` inside them is no arrow.
_TOKEN = re.compile(
    r"""(?P<skip>\#[^\n]*|"(?:[^"\\\n]|\\.)*"?|\s+)
      |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<arrow>->)
      |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One completion: the text to insert, what it is and a detail (a field's type)."""

    label: str
    kind: Kind | None  # None: a keyword
    detail: str = ""


@cache
def keywords() -> tuple[str, ...]:
    """The language's keywords, from the grammar."""
    return tuple(sorted(keyword_texts(keyword_terminals())))


def tokens(text: str) -> list[str]:
    """The words and punctuation of ``text``, without comments, strings and blanks."""
    return [m.group() for m in _TOKEN.finditer(text) if m.lastgroup != "skip"]


@dataclass(frozen=True, slots=True)
class Context:
    """Where the cursor is: the machine and transition it is in, and the words before it."""

    machine: str | None
    transition: str | None
    before: tuple[str, ...]  # the tokens before the word being typed


def context(text_before: str) -> Context:
    """The context of a cursor after ``text_before`` (the document's text up to the cursor)."""
    words = tokens(text_before)
    if words and re.fullmatch(r"[A-Za-z_]\w*", words[-1]) and not text_before[-1:].isspace():
        words = words[:-1]  # the word being typed
    machine: str | None = None
    machine_depth = -1
    transition: str | None = None
    depth = 0
    for index, word in enumerate(words):
        if word == "{":
            depth += 1
        elif word == "}":
            depth -= 1
            if depth <= machine_depth:
                machine, machine_depth, transition = None, -1, None
        elif word == "machine" and index + 1 < len(words):
            machine, machine_depth, transition = words[index + 1], depth, None
        elif word == "transition" and index + 1 < len(words) and machine is not None:
            transition = words[index + 1]
    return Context(machine, transition, tuple(words))


def _in_comment_or_string(text_before: str) -> bool:
    last = deque(_TOKEN.finditer(text_before), maxlen=1)
    if not last or last[0].lastgroup != "skip":
        return False
    text = last[0].group()
    closed_string = len(text) >= 2 and text.endswith('"') and not text.endswith('\\"')
    return text.startswith("#") or (text.startswith('"') and not closed_string)


def candidates(
    text_before: str, index: SymbolIndex | None, keywords_too: bool = True
) -> list[Candidate]:
    """Completions for a cursor after ``text_before``: names where the slot takes one,
    else keywords (unless not ``keywords_too``); nothing inside a comment or a string."""
    if _in_comment_or_string(text_before):
        return []
    where = context(text_before)
    names = _names(where, index) if index is not None else None
    if names is not None:
        return names
    return [Candidate(word, None) for word in keywords()] if keywords_too else []


def _symbols(
    index: SymbolIndex, kinds: Sequence[Kind], owner: str | None = None
) -> list[Candidate]:
    return [
        Candidate(symbol.id.name, symbol.id.kind, symbol.type)
        for kind in kinds
        for symbol in index.declared(kind, owner)
    ]


def _names(where: Context, index: SymbolIndex) -> list[Candidate] | None:
    """The names the slot before the cursor takes, or None when it takes no name."""
    before = where.before
    last = before[-1] if before else ""
    machine = where.machine or ""
    if last == "." and len(before) >= 2:
        return _fields(before[-2], where, index)
    if last == "->":
        return _symbols(index, [Kind.STATE], machine)
    head = _list_head(before)
    # Right after the word that opens a list of names, or after a comma in it.
    if head >= 0 and (last == "," or head == len(before) - 1):
        listed = _listed(before, head, machine, index)
        if listed is not None:
            return listed
    if last == "on":
        return _symbols(index, [Kind.EVENT, Kind.SIGNAL, Kind.TASK])
    if last in ("all", "any"):
        return _symbols(index, [Kind.MACHINE])
    if last == "run":
        return _symbols(index, [Kind.TASK])
    if last == "emit":
        return _symbols(index, [Kind.SIGNAL])
    return None


def _listed(
    before: Sequence[str], head: int, machine: str, index: SymbolIndex
) -> list[Candidate] | None:
    """The names of a list opened by ``before[head]``: `transition t:`, `initial`,
    `final`, `all M in`, `any M in`, `keep`, `start on`, `cancel on`."""
    opener = before[head]
    ahead = before[head - 2] if head >= 2 else ""
    if (opener == ":" and ahead == "transition") or opener in ("initial", "final"):
        return _symbols(index, [Kind.STATE], machine)
    if opener == "in" and ahead in ("all", "any"):
        return _symbols(index, [Kind.STATE], before[head - 1])
    if opener == "keep":
        return _symbols(index, [Kind.TASK])
    if opener == "on" and head >= 1 and before[head - 1] in ("start", "cancel"):
        return _symbols(index, [Kind.EVENT])
    return None


def _list_head(before: Sequence[str]) -> int:
    """Where the list of names the cursor is in begins: the index of the word before it."""
    position = len(before) - 1
    while position >= 0 and (
        before[position] in (",", "*")
        or (re.fullmatch(r"[A-Za-z_]\w*", before[position]) and before[position] not in keywords())
    ):
        position -= 1
    return position


def _fields(scope: str, where: Context, index: SymbolIndex) -> list[Candidate] | None:
    """The fields after ``scope.``: of the data records, the trigger, or a selector's event."""
    if scope == "data":
        return _symbols(index, [Kind.DATA])
    if scope == "instance":
        return _symbols(index, [Kind.INSTANCE], where.machine or "")
    if scope != "event":
        # `on Event.field`: the field that selects the instance.
        return _symbols(index, [Kind.FIELD], scope) or None
    if where.machine is None or where.transition is None:
        return None
    transition = SymbolId(Kind.TRANSITION, where.machine, where.transition)
    fields = index.trigger_fields.get(transition)
    if fields is None:
        return []
    if fields == FAILED_SCOPE:
        return [Candidate("reason", Kind.FIELD, "str")]
    return _symbols(index, [fields.kind], fields.owner)
