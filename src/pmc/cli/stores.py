"""Opening the store a command names: one way, one set of messages, for every command.

``pmc worker`` and ``pmc db init`` open a store to work in (its tables are
created if missing); ``pmc export`` and ``pmc replay`` read one that must be
there already. Every message names the store with its password hidden.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pmc.errors import InputError
from pmc.runtime.stores import ProcessStore, StoreUrlError, database_reason, open_store

STORE_ENV = "PMC_STORE"

# The ``--store`` of the commands that read or write a store named in full.
StoreOption = Annotated[
    str,
    typer.Option(
        "--store",
        envvar=STORE_ENV,
        help="The store URL: sqlite:///path.db or postgresql://user@host:port/db.",
    ),
]


class StoreError(InputError):
    """The store cannot be opened or read."""


def open_process_store(url: str, *, doing: str = "open store") -> ProcessStore:
    """The store at ``url`` with its tables ready, or a :class:`StoreError` saying why not.

    ``doing`` is what the messages say could not be done (``initialise``).
    """
    store = _open(url, doing)
    try:
        store.init()
    except SQLAlchemyError as error:
        store.close()
        raise StoreError(f"cannot {doing} {safe_url(url)}: {database_reason(error)}") from None
    return store


@contextlib.contextmanager
def existing_store(url: str) -> Iterator[ProcessStore]:
    """The store at ``url`` to read, closed afterwards; what fails reading it is a StoreError.

    A missing SQLite file is an error, not a new empty store: opening one
    would create it, so a mistyped path would pass as a store without streams.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    database = parsed.database if parsed and parsed.drivername.startswith("sqlite") else None
    if database and not Path(database).is_file():
        raise StoreError(f"no store at {safe_url(url)}: `{database}` does not exist")
    store = _open(url, "open store")
    try:
        yield store
    except SQLAlchemyError as error:
        raise StoreError(f"cannot read {safe_url(url)}: {database_reason(error)}") from None
    finally:
        store.close()


def _open(url: str, doing: str) -> ProcessStore:
    """``open_store``, refusing ``memory://``: it lives inside one process.

    Workers, ``pmc db init``, ``pmc export`` and ``pmc replay`` would each
    see a store nobody else can reach.
    """
    if url.partition("://")[0].lower() == "memory":
        raise StoreError(
            f"cannot {doing} {safe_url(url)}: a memory:// store lives inside one process; "
            "use sqlite:///path.db or postgresql://user@host:port/db"
        )
    try:
        return open_store(url)
    except StoreUrlError as error:
        # Already a PmcError: this adds what was being done, and hides a password.
        raise StoreError(f"cannot {doing} {safe_url(url)}: {error}") from None
    except SQLAlchemyError as error:
        raise StoreError(f"cannot {doing} {safe_url(url)}: {database_reason(error)}") from None


def check_keys(store: ProcessStore, category: str, keys: Sequence[str]) -> None:
    """Every key asked for must name a stream: a typo must not pass as "nothing to do"."""
    missing = [key for key in keys if store.version(category, key) == 0]
    if missing:
        listed = ", ".join(f"`{key}`" for key in missing)
        raise StoreError(f"no stream {listed} of `{category}` in the store")


def safe_url(url: str) -> str:
    """``url`` with its password hidden, to show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
