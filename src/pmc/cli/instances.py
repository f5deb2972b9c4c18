"""``pmc ps`` and ``pmc show``: list a process's instances, describe one.

Both print what ``pmc.runtime.operations`` answers, as a table or text for
a person, or as its ``to_json()`` with ``--format json``. Exit codes: 0, 1
when ``pmc show`` finds no instance with that key, 2 for usage and store
errors (as every command).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer

from pmc import filters
from pmc.cli.shared import EXIT_FAILED, TargetArgument, UsageError, app, print_error, resolve
from pmc.cli.stores import StoreOption, existing_store
from pmc.diagnostics.render import escape_text, plural
from pmc.filters import FilterError
from pmc.runtime.instances import Failure, InstanceRow, InstanceStatus
from pmc.runtime.operations import InstanceDescription, Operations, UnknownInstance


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class ShowFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command()
def ps(
    target: TargetArgument,
    store: StoreOption,
    status: Annotated[
        InstanceStatus | None, typer.Option("--status", help="Only instances with this status.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only instances with a machine instance in this state.",
            metavar="MACHINE.STATE",
        ),
    ] = None,
    stuck_for: Annotated[
        str | None,
        typer.Option(
            "--stuck-for",
            help="Only running instances whose work has been due this long, or that have no "
            "work and no update for this long (90s, 10m, 2h, 1d, 1h30m).",
            metavar="DURATION",
        ),
    ] = None,
    updated_before: Annotated[
        str | None,
        typer.Option(
            "--updated-before",
            help="Only instances last updated before this time: an ISO 8601 time (UTC unless "
            "it names its offset), or a duration ago (2h, 1d).",
            metavar="WHEN",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Rows per page.")] = 50,
    after: Annotated[
        str | None, typer.Option("--after", help="The page after this key (the last one listed).")
    ] = None,
    output_format: Annotated[
        ListFormat, typer.Option("--format", help="A table, or JSON.")
    ] = ListFormat.TABLE,
) -> None:
    """List a process's instances, by key, a page at a time."""
    definition = resolve(target)
    chosen_state = machine_state(state) if state is not None else None
    stuck = parse_duration(stuck_for, "--stuck-for") if stuck_for is not None else None
    before = parse_time(updated_before, "--updated-before") if updated_before is not None else None
    with existing_store(store) as process_store:
        operations = Operations(definition, process_store)
        try:
            page = operations.instances(
                status=status,
                state=chosen_state,
                stuck_for=stuck,
                updated_before=before,
                limit=limit,
                after=after,
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
        filtered = status or chosen_state or stuck or before or after
        unindexed = not page.items and not filtered and operations.has_streams()
    if output_format is ListFormat.JSON:
        typer.echo(json.dumps(page.to_json(), ensure_ascii=False, indent=2))
    elif page.items:
        typer.echo(table(page.items))
    listed = plural(len(page.items), "instance")
    more = f"; next page: --after {shell_word(page.next_after)}" if page.next_after else ""
    typer.echo(f"{listed} of {definition.category}{more}", err=True)
    if unindexed:
        typer.echo(
            f"note: {definition.category} has streams the instance index does not list yet; "
            "run `pmc db reindex` to index them",
            err=True,
        )


@app.command()
def show(
    target: TargetArgument,
    key: Annotated[str, typer.Argument(help="The instance's key.", metavar="KEY")],
    store: StoreOption,
    output_format: Annotated[
        ShowFormat, typer.Option("--format", help="Text, or JSON.")
    ] = ShowFormat.TEXT,
) -> None:
    """Describe one instance: states, data, pending work, last failure and its events."""
    definition = resolve(target)
    with existing_store(store) as process_store:
        try:
            described = Operations(definition, process_store).describe(key)
        except (ValueError, TypeError) as error:  # a key the key's type cannot take
            raise UsageError(str(error)) from None
        except UnknownInstance as error:
            print_error(escape_text(str(error)))
            raise typer.Exit(EXIT_FAILED) from None
    if output_format is ShowFormat.JSON:
        typer.echo(json.dumps(described.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(description_text(described))


# ---- arguments ------------------------------------------------------------------------


def parse_duration(text: str, option: str) -> timedelta:
    """``90s``, ``10m``, ``2h``, ``1d`` or a sum of them (``1h30m``)."""
    try:
        return filters.parse_duration(text, option, escape_text)
    except FilterError as error:
        raise UsageError(str(error), help=error.help) from None


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time (without an offset: UTC), or a duration before now."""
    try:
        return filters.parse_time(text, option, datetime.now(UTC), escape_text)
    except FilterError as error:
        raise UsageError(str(error), help=error.help) from None


def machine_state(text: str) -> tuple[str, str]:
    """``--state``: ``MACHINE.STATE``."""
    try:
        return filters.parse_machine_state(text, "--state", escape_text)
    except FilterError as error:
        raise UsageError(str(error), help=error.help) from None


def shell_word(text: str) -> str:
    """``text`` as one word a shell (bash, zsh, ksh) reads back as it is.

    A key with characters a terminal does not show as themselves (tabs,
    newlines, controls) is written in ANSI-C quoting, ``$'a\\tb'``: plain
    single quotes would show them escaped, and the escape pasted back is
    another key.
    """
    if re.fullmatch(r"[\w@%+=:,./-]+", text, flags=re.ASCII):
        return text
    if escape_text(text) == text:
        return "'" + text.replace("'", "'\"'\"'") + "'"
    return "$'" + "".join(_ansi_c(char) for char in text) + "'"


def _ansi_c(char: str) -> str:
    """One character inside ``$'...'``."""
    if char in "\\'":
        return "\\" + char
    if escape_text(char) == char:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else f"\\U{code:08x}"


# ---- output ---------------------------------------------------------------------------

COLUMNS = ("KEY", "STATUS", "STATES", "VERSION", "UPDATED", "NEXT DUE", "LAST FAILURE")


def table(rows: tuple[InstanceRow, ...]) -> str:
    """One line per row under a header, columns padded to their widest cell."""
    cells = [COLUMNS, *(row_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def row_cells(row: InstanceRow) -> tuple[str, ...]:
    return (
        escape_text(row.key),
        str(row.status),
        states_text(row.states),
        str(row.version),
        moment(row.updated_at),
        "-" if row.next_due is None else moment(row.next_due),
        "-" if row.last_failure is None else failure_text(row.last_failure),
    )


def states_text(states: Mapping[str, Mapping[str, str]]) -> str:
    """``Order=Shipping``, and ``Item[A]=Done`` for an instance of a many-instance machine;
    a machine with more than ``LISTED_INSTANCES`` instances as counts by state
    (``Item[700 instances]=650 Done, 50 Pending``), so that a row stays a line."""
    parts = []
    for machine, ids in states.items():
        if len(ids) <= LISTED_INSTANCES:
            parts += state_parts({machine: ids})
            continue
        counts = Counter(ids.values())
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        by_state = ", ".join(f"{count} {state}" for state, count in ordered)
        parts.append(f"{machine}[{len(ids)} instances]={by_state}")
    return " ".join(parts)


# ``pmc show KEY`` lists every instance.
LISTED_INSTANCES = 3


def state_parts(states: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Each machine instance's part of ``states_text`` (a machine id may hold spaces)."""
    parts = []
    for machine, ids in states.items():
        for machine_id, state in ids.items():
            name = machine if machine_id == machine else f"{machine}[{machine_id}]"
            parts.append(f"{escape_text(name)}={state}")
    return parts


def moment(value: datetime) -> str:
    return value.isoformat(" ", "seconds")


def failure_text(failure: Failure) -> str:
    where = failure.machine if failure.machine_id == failure.machine else failure.machine_id
    reason = escape_text(failure.reason)
    return f"{failure.task} ({escape_text(where)}) attempt {failure.attempt}: {reason}"


def description_text(described: InstanceDescription) -> str:
    ended = f" ({escape_text(described.end_reason)})" if described.end_reason else ""
    lines = [
        f"{described.category} {escape_text(described.key)}: {described.status}{ended}",
        f"  version {described.version}, created {moment(described.created_at)}, "
        f"updated {moment(described.updated_at)}",
    ]
    if described.next_due is not None:
        lines.append(f"  next due {moment(described.next_due)}")
    if not described.indexed:
        lines.append("  not in the instance index yet: run `pmc db reindex`")
    lines.append("states:")
    lines += [f"  {part}" for part in state_parts(described.states)]
    lines.append(f"data: {compact(described.data)}")
    for machine, records in described.instance_data.items():
        for machine_id, record in records.items():
            if record:
                lines.append(f"  {escape_text(machine_id)} ({machine}): {compact(record)}")
    lines.append("tasks in flight:" if described.tasks else "tasks in flight: none")
    for task in described.tasks:
        when = ""
        if task.not_before is not None:
            when = f", not before {moment(task.not_before)}"
        if task.lease_until is not None:
            when = f", by {escape_text(task.worker or '?')} until {moment(task.lease_until)}"
        lines.append(
            f"  {task.task} ({escape_text(task.machine_id)}) attempt {task.attempt}: "
            f"{task.status}{when}"
        )
    lines.append("timers:" if described.timers else "timers: none")
    lines += [
        f"  {timer.transition} ({escape_text(timer.machine_id)}) due {moment(timer.due_at)}"
        for timer in described.timers
    ]
    if described.last_failure is not None:
        failure = described.last_failure
        lines.append(f"last failure at {moment(failure.at)}: {failure_text(failure)}")
    lines.append("timeline:")
    lines += [
        f"  {entry.version:>4}  {moment(entry.at)}  {entry.type}  {compact(entry.payload)}"
        for entry in described.timeline
    ]
    return "\n".join(lines)


def compact(value: object) -> str:
    return escape_text(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
