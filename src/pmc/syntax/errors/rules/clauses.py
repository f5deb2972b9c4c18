"""Rules for the clauses of a transition and the members of a machine, out of place."""

from __future__ import annotations

from lark import Token, Tree

from pmc.diagnostics import Diagnostic, Label
from pmc.source import Span
from pmc.syntax.errors.stuck import Stuck, on_token

# The clauses after a transition's trigger, in the one order they may come.
CLAUSE_ORDER = ("when", "keep", "run", "set", "emit")
_ORDER_TEXT = ", ".join(CLAUSE_ORDER)
_CLAUSE_TREES = {
    "guard": "when",
    "keep_clause": "keep",
    "run_clause": "run",
    "set_clause": "set",
    "emit_clause": "emit",
}
# A transition has at most one of each, except `emit`: how to say it once.
_JOIN = {
    "when": "join the conditions with `and`",
    "keep": "name every task in one `keep`: `keep A, B`",
    "run": "a transition runs at most one task",
    "set": "separate the assignments of one `set` with `,`",
}


def clause_out_of_order(stuck: Stuck) -> Diagnostic | None:
    """``run T when ...``: a clause written after one that must follow it."""
    clause = str(stuck.bad)
    # Where no keyword can follow but a name could (after a number, LALR
    # shares the state with `retry 3` and a next field), the lexer reads one.
    if clause not in CLAUSE_ORDER or stuck.bad.type not in (clause.upper(), "NAME"):
        return None
    written = _clauses_written(stuck.stack)
    if written is None:
        return None
    rank = CLAUSE_ORDER.index(clause)
    later = [(name, span) for name, span in written if CLAUSE_ORDER.index(name) > rank]
    if later:
        name, span = later[0]
        return Diagnostic(
            "PM0001",
            f"`{name}` comes after `{clause}`: the order is {_ORDER_TEXT}",
            on_token(stuck.bad),
            label=f"move this `{clause}` before `{name}`",
            labels=(Label(span, f"`{name}` is here"),),
        )
    earlier = [span for name, span in written if name == clause]
    if not earlier or clause not in _JOIN:
        return None
    return Diagnostic(
        "PM0001",
        f"a transition has one `{clause}` clause",
        on_token(stuck.bad),
        label=f"a second `{clause}`",
        labels=(Label(earlier[0], "the first one"),),
        help=_JOIN[clause],
    )


def _clauses_written(stack: tuple[object, ...]) -> list[tuple[str, Span]] | None:
    """The clauses of the transition the parser is in, in source order, each with
    where its keyword is; None when it is not inside a transition's clauses."""
    found: list[tuple[str, Span]] = []
    for value in reversed(stack):
        if isinstance(value, Tree) and value.data in _CLAUSE_TREES:
            name = _CLAUSE_TREES[str(value.data)]
            # The keyword is filtered out of the tree, but not out of its position.
            meta = value.meta
            found.append((name, Span(meta.line, meta.column, meta.line, meta.column + len(name))))
        elif (
            isinstance(value, Token)
            and str(value) in CLAUSE_ORDER
            and value.type == str(value).upper()
        ):
            found.append((str(value), on_token(value)))  # a clause still being read
        elif isinstance(value, Token) and value.type == "TRANSITION":
            return found[::-1]
        elif isinstance(value, Token) and value.type in ("LBRACE", "RBRACE"):
            return None
    return None


_MEMBER_KEYWORDS = frozenset({"STATES", "INITIAL", "FINAL", "TRANSITION"})


def machine_data_not_first(stuck: Stuck) -> Diagnostic | None:
    """``machine M { states A  data { ... } }``: the data block comes first, and once.

    Only a `data` that starts a block, where a member would start: a stray
    `data.x` (a `set` missing its comma, `len data.x`) is another mistake.
    """
    members = _machine_members(stuck.stack)
    if stuck.bad.type != "DATA" or members is None or not _opens_block(stuck):
        return None
    opener = next((v for v in members if isinstance(v, Token) and v.type == "LBRACE"), None)
    if opener is None:  # `machine M data {`: the machine's own `{` is missing, not the order
        return None
    read = members[members.index(opener) + 1 :]
    if read and _is_data_block(read[0]) and not any(_is_member(value) for value in read):
        return Diagnostic(
            "PM0001",
            "a machine has at most one `data` block",
            on_token(stuck.bad),
            label="a second `data` block",
            help="declare all of the machine's data fields in its first `data` block",
        )
    return Diagnostic(
        "PM0001",
        "a machine's `data` block comes first",
        on_token(stuck.bad),
        label="after other members",
        labels=(Label(on_token(opener), "move it right after this `{`"),),
        help="a machine has at most one `data` block, before its states and transitions",
    )


def _machine_members(stack: tuple[object, ...]) -> tuple[object, ...] | None:
    """What the parser has read of the machine it is in (from `machine`), if it is in one."""
    for index in range(len(stack) - 1, -1, -1):
        value = stack[index]
        if isinstance(value, Token) and value.type == "MACHINE":
            return stack[index:]
    return None


def _is_member(value: object) -> bool:
    """A member other than the data block, whole (a tree) or begun (its keyword)."""
    if isinstance(value, Tree):
        # Lark gathers the members read so far in a tree of its own (`__machine_decl_star_3`).
        return str(value.data).startswith("__machine_decl")
    return isinstance(value, Token) and value.type in _MEMBER_KEYWORDS


def _is_data_block(value: object) -> bool:
    # Reduced to a tree, or still tokens when the parser stopped just after its `}`.
    return (isinstance(value, Tree) and str(value.data) == "data_decl") or (
        isinstance(value, Token) and value.type == "DATA"
    )


def _opens_block(stuck: Stuck) -> bool:
    return stuck.source.text[stuck.bad.end_pos or 0 :].lstrip().startswith("{")


def data_expression_first(stuck: Stuck) -> Diagnostic | None:
    """``complete when data.done and all M final``: machine conditions come first."""
    previous = stuck.previous
    if (
        stuck.bad.type not in ("ALL", "ANY")
        or previous is None
        or previous.type not in ("AND", "OR")
    ):
        return None
    clause = next(
        (
            v
            for v in reversed(stuck.stack)
            if isinstance(v, Token) and v.type in ("COMPLETE", "FAIL")
        ),
        None,
    )
    if clause is None:
        return None
    return Diagnostic(
        "PM0001",
        "the data expression comes after the machine conditions",
        on_token(stuck.bad),
        label="a machine condition after the data expression",
        help=f"write `{clause} when` with the `{str(stuck.bad).lower()}` conditions first,"
        " then the data expression last",
    )
