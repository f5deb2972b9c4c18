"""Rules for transitions: `transition name: From -> To on Trigger`."""

from __future__ import annotations

from pmc.diagnostics import Diagnostic
from pmc.syntax.errors.expected import LITERALS, arrow_terminal
from pmc.syntax.errors.stuck import Stuck, after_token, missing_at, on_token, smart_at


def missing_colon_after_transition_name(stuck: Stuck) -> Diagnostic | None:
    keyword = stuck.stack_token(-2)
    name = stuck.stack_token(-1)
    if stuck.accepts != {"COLON"} or keyword is None or keyword.type != "TRANSITION":
        return None
    return Diagnostic(
        "PM0001",
        f"expected `:` after the transition name `{name}`",
        missing_at(stuck),
        label="expected `:`",
        help="write `transition name: From -> To on Trigger`",
    )


def missing_arrow(stuck: Stuck) -> Diagnostic | None:
    if arrow_terminal() not in stuck.accepts or "COMMA" not in stuck.accepts:
        return None
    return Diagnostic(
        "PM0001",
        "expected `->` between the source states and the target state",
        missing_at(stuck) if stuck.bad.type == "NAME" else smart_at(stuck),
        label="expected `->`",
        help="write `transition name: From -> To on Trigger`",
    )


def missing_on(stuck: Stuck) -> Diagnostic | None:
    if stuck.accepts != {"ON"}:
        return None
    target = stuck.stack_token(-1)
    return Diagnostic(
        "PM0001",
        "missing `on` before the trigger",
        missing_at(stuck),
        label="expected `on`",
        help=f"write `-> {target} on EventName`" if target is not None else None,
    )


def expected_source_state(stuck: Stuck) -> Diagnostic | None:
    if stuck.accepts != {"NAME", "STAR"}:
        return None
    literal = stuck.bad.type in LITERALS | {"DURATION"}
    return Diagnostic(
        "PM0001",
        "expected a state name or `*`",
        on_token(stuck.bad) if literal else missing_at(stuck),
        label="expected a state name or `*`",
    )


def expected_target_state(stuck: Stuck) -> Diagnostic | None:
    arrow = stuck.stack_token(-1)
    if stuck.accepts == {"ON"} and str(stuck.stack_token(-1)) == "on":
        # `A -> on E`: the lexer took `on` for the target state's name.
        arrow = stuck.stack_token(-2)
    elif stuck.accepts != {"NAME"}:
        return None
    if arrow is None or str(arrow) != "->":
        return None
    return Diagnostic(
        "PM0001",
        "expected the target state after `->`",
        after_token(arrow),
        label="expected a state name",
    )


def missing_trigger(stuck: Stuck) -> Diagnostic | None:
    previous = stuck.stack_token(-1)
    if previous is None or previous.type != "ON" or stuck.block_kind != "machine":
        return None
    return Diagnostic(
        "PM0001",
        "expected a trigger after `on`",
        missing_at(stuck),
        label="expected a trigger",
        help="a trigger is `EventName`, `EventName.field`, `TaskName completed`, "
        "`TaskName failed` or `after 5m`",
    )
