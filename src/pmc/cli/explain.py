"""``pmc explain``: print the documentation of a diagnostic code or breaking-change rule."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pmc.cli.shared import EXIT_USAGE, app, print_error, print_note
from pmc.diagnostics.suggest import did_you_mean
from pmc.errors import InputError
from pmc.tools.explain import all_sections


@app.command()
def explain(
    code: Annotated[
        str,
        typer.Argument(
            help="A diagnostic code (PM0203), a `pmc breaking` rule (STATE_NO_DELETE) "
            "or a `pmc replay` rule (REPLAY_UNKNOWN_STATE)."
        ),
    ],
) -> None:
    """Explain a diagnostic code (PMxxxx) or a rule of `pmc breaking` or `pmc replay` (REPLAY_*)."""
    try:
        documented = all_sections()
    except OSError as error:
        raise InputError(f"the documentation is not installed with pmc: {error}") from None
    text = documented.get(code.strip().upper())
    if text is None:
        hint = did_you_mean(code.strip(), documented)
        print_error(
            f"no documentation for `{code}`: not a diagnostic code (PM0203), "
            "a breaking-change rule (STATE_NO_DELETE) or a replay rule (REPLAY_UNKNOWN_STATE)"
        )
        if hint:
            print_note(f"help: {hint}")
        raise typer.Exit(EXIT_USAGE)
    sys.stdout.write(text)
