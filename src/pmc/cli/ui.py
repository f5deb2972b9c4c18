"""``pmc ui``: serve the web inspector (``pmc.inspector``) of a process's store.

Read-only unless ``--allow-actions``. Binds 127.0.0.1 unless told otherwise;
another address is warned about, since the inspector has no login: whoever
reaches the port reads every instance (and acts, with ``--allow-actions``).
Needs the ``ui`` extra; without it, the error says how to install it.
"""

from __future__ import annotations

import errno
import getpass
import socket
from typing import Annotated

import typer

from pmc.cli.shared import TargetArgument, UsageError, app, resolve
from pmc.cli.stores import StoreOption, existing_store

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Listening on every address: the names it is reached by are not known here.
ANY_ADDRESS = ("0.0.0.0", "::")
INSTALL_HINT = "pip install 'event-sourcery-pmc[ui]'"


@app.command()
def ui(
    target: TargetArgument,
    store: StoreOption,
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port.")] = 8765,
    hostnames: Annotated[
        list[str] | None,
        typer.Option(
            "--hostname",
            help="A name the inspector is reached by, besides the --host address and "
            "loopback's names (repeatable): requests naming another host are refused.",
        ),
    ] = None,
    allow_actions: Annotated[
        bool,
        typer.Option(
            "--allow-actions", help="Offer cancel, retry, fire and move (read-only otherwise)."
        ),
    ] = False,
) -> None:
    """Serve a web inspector of a process's instances: list, diagram, timeline, actions."""
    try:
        import uvicorn

        from pmc.inspector import Settings, create_app
    except ImportError as error:
        raise UsageError(
            f"`pmc ui` needs the ui extra ({error.name} is not installed)", help=INSTALL_HINT
        ) from None
    from pmc.runtime.operations import Operations

    definition = resolve(target)
    settings = Settings(
        hosts=served_hosts(host, tuple(hostnames or ())),
        allow_actions=allow_actions,
        default_by=default_by(),
    )
    with existing_store(store) as process_store:
        operations = Operations(definition, process_store)
        # Read once now: a store that cannot answer is an error here, not on every page.
        operations.instances(limit=1)
        check_port(host, port)
        _announce(definition.category, host, port, allow_actions)
        if host in ANY_ADDRESS and not hostnames:
            typer.echo(
                "warning: only requests to 127.0.0.1, localhost or ::1 are answered: "
                "name the others this machine is reached by with --hostname NAME",
                err=True,
            )
        uvicorn.run(create_app(operations, settings), host=host, port=port, log_level="warning")


def check_port(host: str, port: int) -> None:
    """Fail with a clear error if ``host:port`` is taken or not ours to take (uvicorn
    would log it and exit 3, after the start was announced). Other failures (an
    address not of this machine) are uvicorn's to report."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        if error.errno not in (errno.EADDRINUSE, errno.EACCES):
            return
        raise UsageError(
            f"cannot listen on {_shown(host)}:{port}: {error.strerror or error}",
            help="choose another --port, or stop what listens there",
        ) from None


def _announce(category: str, host: str, port: int, allow_actions: bool) -> None:
    if host not in LOOPBACK:
        typer.echo(
            f"warning: listening on {host}, not loopback: the inspector has no login, "
            "whoever reaches this port reads every instance"
            + (" and can act on it" if allow_actions else ""),
            err=True,
        )
    mode = "actions enabled" if allow_actions else "read-only"
    typer.echo(
        f"pmc ui: {category} on http://{_shown(host)}:{port}/ ({mode}); Ctrl-C stops", err=True
    )


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def served_hosts(host: str, hostnames: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The ``Host`` names requests may carry: the address listened on, loopback's names
    and ``hostnames`` (``--hostname``).

    A page of another site whose name was made to resolve here (DNS
    rebinding) sends its own name, and is refused: it could otherwise read
    the CSRF token from a page, as same-origin to the browser. Listening on
    every address, no name is taken for granted: the names it is reached by
    are given with ``--hostname``.
    """
    listened = () if host in ANY_ADDRESS else (host,)
    # A Host header writes an IPv6 address in brackets: `[::1]:8765`.
    names = (*(name.strip("[]") for name in listened), *LOOPBACK, *hostnames)
    return tuple(dict.fromkeys(f"[{name}]" if ":" in name else name for name in names))


def default_by() -> str:
    """Who the action forms record as acting until the operator writes another name."""
    try:
        return f"ui:{getpass.getuser()}"
    except (OSError, KeyError):  # no $USER and a uid without a passwd entry
        return "ui"
