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


def machine_data_not_first(stuck: Stuck) -> Diagnostic | None:
    """``machine M { states A  data { ... } }``: the data block comes first."""
    if stuck.bad.type != "DATA" or stuck.block_kind != "machine":
        return None
    block = stuck.block
    assert block is not None
    return Diagnostic(
        "PM0001",
        "a machine's `data` block comes first",
        on_token(stuck.bad),
        label="after other members",
        labels=(Label(on_token(block.opener), "move it right after this `{`"),),
        help="a machine has at most one `data` block, before its states and transitions",
    )
