"""``pmc cancel``, ``pmc retry``, ``pmc fire``, ``pmc move``: operator actions on one instance.

Each records an operator event in the instance's stream, with who (``--by``,
the OS user by default) and why (``--reason``), through the runtime's
``Operations`` API (see ``docs/operations.md``). Exit 0: recorded, or
``--id`` names an action already recorded (nothing is recorded again); 1:
the action does not apply (the message says why; nothing is recorded); 2:
usage or store errors, as every command.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TypedDict

import typer

from pmc.cli.shared import EXIT_FAILED, TargetArgument, UsageError, app, print_error, resolve
from pmc.cli.stores import StoreOption, existing_store
from pmc.diagnostics.render import escape_text

if TYPE_CHECKING:
    from pmc.runtime.actions import ActionResult
    from pmc.runtime.operations import Operations


class ActionFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


KeyArgument = Annotated[str, typer.Argument(help="The process key (its stream).", metavar="KEY")]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who takes the action (recorded); default: the OS user."),
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the stream).")]
IdOption = Annotated[
    str | None,
    typer.Option(
        "--id",
        help="The action's id: running the same command again with it records nothing again.",
        metavar="ID",
    ),
]
MachineIdOption = Annotated[
    str | None,
    typer.Option(
        "--machine-id", help="The machine instance, where several could be meant.", metavar="ID"
    ),
]
FormatOption = Annotated[
    ActionFormat, typer.Option("--format", help="How to print what was recorded.")
]


@app.command()
def cancel(
    target: TargetArgument,
    key: KeyArgument,
    store: StoreOption,
    reason: ReasonOption,
    by: ByOption = None,
    action_id: IdOption = None,
    output: FormatOption = ActionFormat.TEXT,
) -> None:
    """Cancel a running process instance: OperatorCancelled, then ProcessCancelled."""
    actor = _actor(by, reason, action_id)
    _run(target, store, output, lambda ops: ops.cancel(key, **actor))


@app.command()
def retry(
    target: TargetArgument,
    key: KeyArgument,
    task: Annotated[str, typer.Argument(help="The task to retry now.", metavar="TASK")],
    store: StoreOption,
    reason: ReasonOption,
    machine_id: MachineIdOption = None,
    by: ByOption = None,
    action_id: IdOption = None,
    output: FormatOption = ActionFormat.TEXT,
) -> None:
    """Run a task's next attempt now: a retry waiting for its time, or a task that
    failed for good while its instance still waits for its outcome."""
    actor = _actor(by, reason, action_id)
    _run(target, store, output, lambda ops: ops.retry(key, task, machine_id, **actor))


@app.command()
def fire(
    target: TargetArgument,
    key: KeyArgument,
    transition: Annotated[
        str, typer.Argument(help="The timed transition whose timer fires.", metavar="TRANSITION")
    ],
    store: StoreOption,
    reason: ReasonOption,
    machine_id: MachineIdOption = None,
    by: ByOption = None,
    action_id: IdOption = None,
    output: FormatOption = ActionFormat.TEXT,
) -> None:
    """Fire a pending timer now, as if it were due: TimerFired and its transition."""
    actor = _actor(by, reason, action_id)
    _run(target, store, output, lambda ops: ops.fire(key, transition, machine_id, **actor))


@app.command()
def move(
    target: TargetArgument,
    key: KeyArgument,
    to: Annotated[
        str, typer.Argument(help="Where to put the instance: `Machine.State`.", metavar="TO")
    ],
    store: StoreOption,
    reason: ReasonOption,
    machine_id: MachineIdOption = None,
    by: ByOption = None,
    action_id: IdOption = None,
    output: FormatOption = ActionFormat.TEXT,
) -> None:
    """Put a machine instance in a state: its tasks are abandoned, the state's timers scheduled."""
    machine, dot, state = to.partition(".")
    if not dot or not machine or not state:
        raise UsageError(f"TO is `Machine.State`, not {to!r}", help="e.g. `Ticket.Waiting`")
    actor = _actor(by, reason, action_id)
    _run(target, store, output, lambda ops: ops.move(key, machine, machine_id, state, **actor))


class _Actor(TypedDict):
    """Who acts and why, as every action of ``Operations`` takes them."""

    by: str
    reason: str
    action_id: str | None


def _actor(by: str | None, reason: str, action_id: str | None) -> _Actor:
    return {"by": _by(by), "reason": reason, "action_id": action_id}


def _by(by: str | None) -> str:
    if by is not None:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # No $USER and a uid without a passwd entry (a container): nobody to record.
        raise UsageError("no OS user to record: pass --by WHO") from None


def _run(
    target: str, store: str, output: ActionFormat, act: Callable[[Operations], ActionResult]
) -> None:
    """Run one action and print what it recorded; a refusal exits 1."""
    # Imported here: the runtime brings SQLAlchemy, which other commands need not load.
    from pmc.runtime.actions import OperationRefused
    from pmc.runtime.operations import Operations

    definition = resolve(target)
    with existing_store(store) as process_store:
        try:
            result = act(Operations(definition, process_store))
        except OperationRefused as refusal:
            print_error(str(refusal))
            raise typer.Exit(EXIT_FAILED) from None
    if output is ActionFormat.JSON:
        typer.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        for line in action_lines(result):
            typer.echo(escape_text(line))


def action_lines(result: ActionResult) -> list[str]:
    """What an action recorded, one event a line."""
    where = f"{result.category} {result.key}"
    if result.deduplicated:
        return [f"{where}: {result.action} {result.event_id} was recorded before; nothing recorded"]
    lines = [f"{where}: {result.action} recorded, stream at version {result.version}"]
    return lines + [f"  {event.name}" for event in result.events]
