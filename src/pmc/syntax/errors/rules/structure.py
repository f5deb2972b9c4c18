"""Rules for the file's shape: the process, declarations and their brackets."""

from __future__ import annotations

from lark import Token

from pmc.diagnostics import Diagnostic, Label
from pmc.syntax.errors.expected import (
    END,
    describe_expected,
    describe_token,
    keyword_text,
    terminal_text,
)
from pmc.syntax.errors.stuck import (
    CLOSER,
    CONSTRUCTS,
    Stuck,
    after_token,
    missing_at,
    on_token,
    smart_at,
)


def empty_file(stuck: Stuck) -> Diagnostic | None:
    if stuck.bad.type != END or stuck.previous is not None:
        return None
    return Diagnostic(
        "PM0002",
        "the file is empty; expected `process Name { ... }`",
        on_token(stuck.bad),
        help="a `.pm` file holds one process: `process Name { ... }`",
    )


def missing_process_keyword(stuck: Stuck) -> Diagnostic | None:
    if stuck.stack or stuck.accepts != {"PROCESS"}:
        return None
    declaration = keyword_text(stuck.bad.type) is not None
    return Diagnostic(
        "PM0001",
        f"expected `process` at the start of the file, found {describe_token(stuck.bad)}",
        on_token(stuck.bad),
        label="expected `process`",
        help="wrap the declarations in `process Name { ... }`"
        if declaration
        else "a `.pm` file holds one process: `process Name { ... }`",
    )


def _process_name(stuck: Stuck) -> str | None:
    name = stuck.stack[1] if len(stuck.stack) > 1 else None
    return str(name) if isinstance(name, Token) and name.type == "NAME" else None


# What follows the process's `}`: (message, help) for the likeliest slips.
_AFTER_THE_PROCESS = {
    "RBRACE": (
        "unexpected `}`: the process is already closed",
        "remove this `}`, or the one above that closes the process too early",
    ),
    "PROCESS": (
        "a `.pm` file holds one process; found a second `process`",
        "put each process in a file of its own",
    ),
}


def after_the_process(stuck: Stuck) -> Diagnostic | None:
    if stuck.accepts != {END} or stuck.previous is None or stuck.previous.type != "RBRACE":
        return None
    name = _process_name(stuck)
    ends_here = Label(
        on_token(stuck.previous), f"process `{name}` ends here" if name else "the process ends here"
    )
    message, help = _AFTER_THE_PROCESS.get(
        stuck.bad.type,
        (
            f"unexpected {describe_token(stuck.bad)} after the end of the process",
            "declarations belong inside the process's `{ ... }`; "
            "is a `}` above closing it too early?",
        ),
    )
    return Diagnostic("PM0001", message, on_token(stuck.bad), labels=(ends_here,), help=help)


def unclosed_at_end(stuck: Stuck) -> Diagnostic | None:
    block = stuck.block
    if stuck.bad.type != END or block is None:
        return None
    opener = block.opener
    if CLOSER[opener.type] in stuck.accepts:
        return Diagnostic(
            "PM0002",
            f"unclosed `{opener}` of {block.title} opened at line {opener.line}",
            missing_at(stuck),
            label=f"expected `{terminal_text(CLOSER[opener.type])}`",
            labels=(Label(on_token(opener), "opened here"),),
        )
    expected = describe_expected(stuck.accepts)
    return Diagnostic(
        "PM0002",
        f"unexpected end of file; expected {expected}",
        missing_at(stuck),
        label=f"expected {expected}",
        labels=(Label(on_token(opener), f"{block.title} starts here"),),
    )


def missing_closer(stuck: Stuck) -> Diagnostic | None:
    """``machine M { ...`` followed by ``complete when``: the machine's ``}`` is missing."""
    block = stuck.block
    if block is None or not stuck.fixed_by_closing or stuck.bad.type == END:
        return None
    closer = terminal_text(CLOSER[block.opener.type])
    return Diagnostic(
        "PM0001",
        f"expected `{closer}` to close {block.title} before {describe_token(stuck.bad)}",
        missing_at(stuck),
        label=f"expected `{closer}`",
        labels=(Label(on_token(block.opener), f"{block.title} opened here"),),
    )


# What the name after a clause's keyword names, where it is not a declaration's.
_NAMED_BY = {"emit": "signal", "keep": "task", "run": "task"}


def missing_declaration_name(stuck: Stuck) -> Diagnostic | None:
    keyword = stuck.stack_token(-1)
    if stuck.accepts != {"NAME"} or keyword is None or keyword.type not in CONSTRUCTS | {"KEEP"}:
        return None
    kind = str(keyword)
    message = (
        "missing process name after `process`"
        if kind == "process"
        else f"expected the {_NAMED_BY.get(kind, kind)} name after `{kind}`"
    )
    return Diagnostic(
        "PM0001",
        message,
        missing_at(stuck),
        label="expected a name",
        help="write `process Name { ... }`" if kind == "process" else None,
    )


def keyword_read_as_clause_name(stuck: Stuck) -> Diagnostic | None:
    """``emit`` at the end of a line: the next line's keyword was read as the signal's name."""
    clause, name = stuck.stack_token(-2), stuck.stack_token(-1)
    if clause is None or name is None or str(clause) not in _NAMED_BY or name.type != "NAME":
        return None
    if keyword_text(str(name).upper()) != str(name) or (name.line or 0) <= (clause.line or 0):
        return None
    return Diagnostic(
        "PM0001",
        f"expected the {_NAMED_BY[str(clause)]} name after `{clause}`",
        after_token(clause),
        label="expected a name",
    )


def missing_open_brace(stuck: Stuck) -> Diagnostic | None:
    if "LBRACE" not in stuck.accepts or "NAME" in stuck.accepts:
        return None
    kind = next(
        (str(v) for v in reversed(stuck.stack) if isinstance(v, Token) and v.type in CONSTRUCTS),
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
        smart_at(stuck),
        label=f"expected {expected}",
    )
