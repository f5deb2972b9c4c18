"""``pmc explain``: print the documentation of a diagnostic code or breaking-change rule."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pmc.cli.shared import UsageError, app
from pmc.diagnostics.suggest import did_you_mean
from pmc.errors import InputError
from pmc.tools.explain import all_sections
from pmc.tools.explain import explain as explain_code


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
        text = explain_code(code)
    except OSError as error:
        raise InputError(f"the documentation is not installed with pmc: {error}") from None
    if text is None:
        raise UsageError(
            f"no documentation for `{code}`: not a diagnostic code (PM0203), "
            "a breaking-change rule (STATE_NO_DELETE) or a replay rule (REPLAY_UNKNOWN_STATE)",
            help=did_you_mean(code.strip(), all_sections()),
        )
    sys.stdout.write(text)
