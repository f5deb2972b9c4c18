"""Every error pmc raises on purpose is a PmcError, so one place maps them to exit codes.

The check walks every module of ``src/pmc``: a new exception class that is
not a :class:`~pmc.errors.PmcError` fails here, with no list to keep up.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import pmc
from pmc.cli.shared import UsageError
from pmc.cli.stores import StoreError
from pmc.codegen import CodegenError
from pmc.errors import InputError, PmcError
from pmc.runtime import IncompatibleModule
from pmc.runtime.attempts import HandlersError
from pmc.runtime.manager import ConflictRetriesExhausted
from pmc.runtime.stores import StoreUrlError, open_store
from pmc.streams.export import ExportFormatError
from pmc.tools.graph import UnknownMachineError

# Exception classes of pmc that are not errors pmc raises, and why.
NOT_ERRORS = {
    # A warning category for `warnings.warn`, never raised.
    "pmc.runtime.manager.SyncRetryWarning",
    # The testing kit's stand-in for a handler that hangs: a GeneratorExit,
    # the one exception a handler's call lets through, so that no outcome is
    # recorded; never an error of pmc's.
    "pmc.testing.tasks.AttemptHung",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in pmc, by its qualified name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(pmc.__path__, "pmc."):
        if module_info.name == "pmc.__main__":  # importing it runs the CLI
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_pmc_defines_is_a_pmc_error() -> None:
    classes = _exception_classes()
    assert sorted(NOT_ERRORS - set(classes)) == []  # the allow-list names real classes
    assert sorted(n for n, c in classes.items() if not issubclass(c, PmcError)) == sorted(
        NOT_ERRORS
    )


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (UnknownMachineError, ValueError),
        (IncompatibleModule, ImportError),
        (ConflictRetriesExhausted, RuntimeError),
        (ExportFormatError, ValueError),
        (StoreUrlError, ValueError),
        (HandlersError, TypeError),
    ],
    ids=lambda value: value.__name__,
)
def test_an_error_keeps_the_built_in_base_it_had(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, PmcError)
    assert issubclass(error, builtin)


def test_input_errors_from_outside_are_input_errors() -> None:
    assert issubclass(StoreError, InputError)
    assert issubclass(StoreUrlError, InputError)
    assert issubclass(HandlersError, InputError)


def test_an_incompatible_module_is_caught_as_a_pmc_error_and_as_an_import_error() -> None:
    for caught in (PmcError, ImportError):
        with pytest.raises(caught):
            raise IncompatibleModule("later.pm was compiled by a newer pmc")


def test_a_codegen_error_says_what_failed() -> None:
    assert str(CodegenError("ruff is not installed")) == (
        "cannot generate code: ruff is not installed"
    )


def test_an_input_error_may_name_the_file() -> None:
    assert InputError("cannot read `a.pm`", "a.pm").path == "a.pm"
    assert InputError("no store").path is None


def test_a_usage_error_may_carry_a_help_line() -> None:
    assert UsageError("no documentation for `PM999`", help="did you mean `PM0999`?").help == (
        "did you mean `PM0999`?"
    )
    assert UsageError("two sources").help is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/x", "unsupported store URL scheme `mysql`: expected"),
        ("sqlite://", "an SQLite store needs a file path: sqlite:///path.db"),
        ("postgresql://pmc@db:port/x", "not a store URL SQLAlchemy can open: "),
    ],
)
def test_a_store_url_naming_no_store_is_a_store_url_error(url: str, message: str) -> None:
    with pytest.raises(StoreUrlError, match="^" + re.escape(message)):
        open_store(url)
