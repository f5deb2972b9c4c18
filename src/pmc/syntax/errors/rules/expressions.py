"""Rules for expressions: guards, data conditions, `set` and binding values."""

from __future__ import annotations

import re

from lark import Token, Tree

from pmc.diagnostics import Diagnostic
from pmc.diagnostics.suggest import suggest
from pmc.source import Span
from pmc.syntax.errors.expected import shorten
from pmc.syntax.errors.stuck import Stuck, missing_at, on_token
from pmc.syntax.recovery import COMMENT_OR_STRING

COMPARISONS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE"})
# What may stand between a comparison's operator and the parser's position
# inside the same comparison: the parts of its right-hand operand.
_OPERAND_PARTS = frozenset(
    {"PLUS", "MINUS", "DOT", "NAME", "INT", "DECIMAL", "STRING", "TRUE", "FALSE", "NONE"}
    | {"KEY", "MACHINE_ID", "DATA", "INSTANCE", "EVENT", "RPAR"}
)
_MACHINE_DATA = re.compile(r"\bmachine\s+[A-Za-z_]\w*\s*\{\s*data\s*\{([^{}]*)\}")
_DATA = re.compile(r"\bdata\s*\{([^{}]*)\}")
_FIELD = re.compile(r"([A-Za-z_]\w*)\s*:")
_OTHER_OPERATORS = {"<>": "!=", "=>": ">=", "=<": "<="}
# Other languages' spellings of the three constants.
_CONSTANTS = {"True": "true", "False": "false", "None": "none", "null": "none", "nil": "none"}


def equals_for_comparison(stuck: Stuck) -> Diagnostic | None:
    """``when data.n = 1``: `=` assigns (in `set`); a condition compares with `==`."""
    if stuck.bad.type != "EQUAL" or "EQ" not in stuck.accepts:
        return None
    return Diagnostic(
        "PM0001",
        "use `==` to compare, not `=`",
        on_token(stuck.bad),
        label="write `==`",
        help="`=` only gives a value: to a field's default, an argument, or in `set`",
    )


def other_languages_operator(stuck: Stuck) -> Diagnostic | None:
    """``a <> b``, ``a => b``, ``a =< b``: operators of other languages."""
    bad, previous = stuck.bad, stuck.previous
    if bad.type == "EQUAL" and "EQ" in stuck.accepts:
        first = bad  # `=` where a comparison may go, then `>` or `<`
    elif bad.type == "GT" and previous is not None and previous.type == "LT":
        first = previous
    else:
        return None
    offset = first.start_pos or 0
    written = stuck.source.text[offset : offset + 2]
    meant = _OTHER_OPERATORS.get(written)
    if meant is None:
        return None
    line, column = first.line or 1, first.column or 1
    return Diagnostic(
        "PM0001",
        f"use `{meant}`, not `{written}`",
        Span(line, column, line, column + 2),
        label=f"write `{meant}`",
    )


def chained_comparison(stuck: Stuck) -> Diagnostic | None:
    """``a < b < c``: comparisons take one operator, unlike Python's chains."""
    if stuck.bad.type not in COMPARISONS | {"IN", "IS"} or stuck.bad.type in stuck.accepts:
        return None
    operator = _open_comparison(stuck.stack)
    if operator is None:
        return None
    return Diagnostic(
        "PM0001",
        "comparisons do not chain",
        on_token(stuck.bad),
        label="a second comparison operator",
        help=f"write two comparisons joined by `and`, e.g. `a {operator} b and b {stuck.bad} c`",
    )


def _open_comparison(stack: tuple[object, ...]) -> Token | None:
    """The operator of the comparison the parser is inside, if it is inside one."""
    for value in reversed(stack):
        if isinstance(value, Tree) and value.data == "_compare_op":
            return _operator_token(value)
        if not isinstance(value, Token):
            continue  # an operand already reduced
        if value.type in COMPARISONS | {"IN", "IS"}:
            return value
        if value.type not in _OPERAND_PARTS:
            return None
    return None  # pragma: no cover - a comparison always starts after a keyword


def _operator_token(tree: Tree[Token]) -> Token:
    [operator] = tree.children
    assert isinstance(operator, Token)
    return operator


def other_languages_constant(stuck: Stuck) -> Diagnostic | None:
    """``x == True``, ``x == null``: the constants are `true`, `false` and `none`."""
    meant = _CONSTANTS.get(str(stuck.bad))
    if stuck.bad.type != "NAME" or meant is None or "TRUE" not in stuck.accepts:
        return None
    return Diagnostic(
        "PM0001",
        f"`{stuck.bad}` is written `{meant}`",
        on_token(stuck.bad),
        label=f"write `{meant}`",
        help="the constants are `true`, `false` and `none`, in lower case",
    )


def bare_name(stuck: Stuck) -> Diagnostic | None:
    """``when count > 0``: a value is read from `data.`, `instance.` or `event.`."""
    # `len` is accepted exactly where an operand may start (`data` and `event`
    # also start declarations).
    if stuck.bad.type != "NAME" or "LEN" not in stuck.accepts:
        return None
    if stuck.source.text[stuck.bad.end_pos or 0 :].startswith("."):
        return None  # `dta.x`: a misspelled `data`, which the spelling rule names
    name = shorten(str(stuck.bad))
    # `complete when` and `fail when` read the process's data only (PM0510).
    in_condition = _innermost(stuck.stack, {"TRANSITION", "COMPLETE", "FAIL"}) != "TRANSITION"
    places = "`data.NAME`" if in_condition else "`data.NAME`, `instance.NAME` or `event.NAME`"
    return Diagnostic(
        "PM0001",
        f"`{name}` alone is not a value: write {places.replace('NAME', name)}",
        on_token(stuck.bad),
        label="a name alone",
        help=_bare_name_help(name, stuck),
    )


def assignments_without_comma(stuck: Stuck) -> Diagnostic | None:
    """``set data.a = 1 data.b = 2``: a `set` separates its assignments with `,`."""
    if stuck.bad.type not in ("DATA", "INSTANCE") or "COMMA" not in stuck.accepts:
        return None
    if _innermost(stuck.stack, {"TRANSITION", "SET", "EMIT", "RUN"}) != "SET":
        return None
    return Diagnostic(
        "PM0001",
        "expected `,` between the assignments of `set`",
        missing_at(stuck),
        label="add `,`",
    )


def _innermost(stack: tuple[object, ...], types: set[str]) -> str | None:
    """The type of the last token of ``types`` on the stack: the construct the parser is in."""
    return next((v.type for v in reversed(stack) if isinstance(v, Token) and v.type in types), None)


def _bare_name_help(name: str, stuck: Stuck) -> str | None:
    guess = _guess(name, stuck.source.text)
    if guess is not None:
        return f"did you mean `{guess}`?"
    for keyword, condition in (("ALL", "all"), ("ANY", "any")):
        if keyword in stuck.accepts:
            return f"or a machine condition such as `{condition} {name} in State`"
    return None


def _guess(name: str, text: str) -> str | None:
    """The data field ``name`` most likely means, from a look at the declarations.

    A cheap scan of the source rather than the AST, which does not exist yet:
    the fields of the `data` blocks, those first in a machine being
    `instance.` fields.
    """
    code = COMMENT_OR_STRING.sub("", text)
    in_machines = {match.start(1) for match in _MACHINE_DATA.finditer(code)}
    refs = sorted(
        f"{'instance' if block.start(1) in in_machines else 'data'}.{field}"
        for block in _DATA.finditer(code)
        for field in _FIELD.findall(block.group(1))
    )
    exact = [ref for ref in refs if ref.endswith(f".{name}")]
    if exact:
        return exact[0]
    by_field = {ref.split(".", 1)[1]: ref for ref in refs}
    close = suggest(name, list(by_field))
    return by_field[close] if close is not None else None
