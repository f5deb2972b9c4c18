"""Rules for fields, task clauses and the arguments of `run`."""

from __future__ import annotations

import re

from pmc.diagnostics import Diagnostic, Label
from pmc.source import Span
from pmc.syntax.errors.expected import keyword_text
from pmc.syntax.errors.stuck import CALLS, Stuck, missing_at, on_token, smart_at

_FIELD_BLOCKS = frozenset({"event", "signal", "data", "task", "returns"})
# Words that continue a `retry` clause, and are field names anywhere else.
_RETRY_PARTS = frozenset({"backoff", "every", "max"})
_RETRY_WITH_UNIT = re.compile(r"\bretry\s+([0-9]+)\Z")


def reserved_word_as_field(stuck: Stuck) -> Diagnostic | None:
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
        on_token(previous),
        label="reserved word",
        help=f"end the `retry` clause with `;`, or declare `{previous}` before it"
        if retry_part
        else "choose another name for the field",
    )


def equals_for_colon(stuck: Stuck) -> Diagnostic | None:
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
        on_token(stuck.bad),
        label="expected `:`",
        help=f'write `{previous}: str`, and `{previous}: str = "value"` to give a default',
    )


def missing_colon_after_field(stuck: Stuck) -> Diagnostic | None:
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
        missing_at(stuck),
        label="expected `:`",
        help=f"fields are written `name: type`, e.g. `{previous}: str`",
    )


def comma_between_fields(stuck: Stuck) -> Diagnostic | None:
    if (
        stuck.bad.type != "COMMA"
        or stuck.block_kind not in _FIELD_BLOCKS
        or not {"NAME", "RBRACE"} <= stuck.accepts
    ):
        return None
    return Diagnostic(
        "PM0001",
        "fields are separated by newlines or `;`, not `,`",
        on_token(stuck.bad),
        label="replace with a newline or `;`",
    )


def retry_count(stuck: Stuck) -> Diagnostic | None:
    """``retry 3s``: after ``retry`` the lexer reads ``3`` and then a field named ``s``."""
    previous = stuck.stack_token(-1)
    if previous is not None and previous.type == "RETRY" and stuck.bad.type == "DURATION":
        span = on_token(stuck.bad)
    elif previous is not None and previous.type == "NAME" and stuck.block_kind == "task":
        before = stuck.source.text[: previous.start_pos or 0]
        match = _RETRY_WITH_UNIT.search(before)
        if match is None:
            return None
        start = on_token(previous)
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


def run_arguments(stuck: Stuck) -> Diagnostic | None:
    block = stuck.block
    if block is None or block.kind not in CALLS:
        return None
    previous = stuck.stack_token(-1)
    if stuck.accepts == {"EQUAL"} and previous is not None:
        return Diagnostic(
            "PM0001",
            f"expected `=` after `{previous}` in {block.title}",
            missing_at(stuck),
            label="expected `=`",
            help="arguments are written `field = value`, e.g. `reason = event.reason`",
        )
    if {"COMMA", "RPAR"} <= stuck.accepts:
        return Diagnostic(
            "PM0001",
            f"expected `,` between the arguments of `{block.kind} {block.name}` or `)` after them",
            smart_at(stuck),
            label="expected `,` or `)`",
            labels=(Label(on_token(block.opener), "`(` opened here"),),
        )
    return None
