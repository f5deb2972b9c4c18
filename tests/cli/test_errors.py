"""Every error pmc raises on purpose is a PmcError, so one place maps them to exit codes."""

from __future__ import annotations

import pytest

from pmc.cli.shared import OutputError, UsageError
from pmc.cli.stores import StoreError
from pmc.codegen import CodegenError
from pmc.errors import InputError, PmcError
from pmc.tools.graph import UnknownMachineError


@pytest.mark.parametrize(
    ("error", "also"),
    [
        (CodegenError("ruff failed"), Exception),
        (UnknownMachineError("Door", ("Leaf",)), ValueError),  # its older base, kept
        (StoreError("no store"), InputError),
        (UsageError("two sources"), PmcError),
        (OutputError("cannot write"), PmcError),
    ],
    ids=["codegen", "unknown-machine", "store", "usage", "output"],
)
def test_errors_are_pmc_errors(error: Exception, also: type[Exception]) -> None:
    assert isinstance(error, PmcError)
    assert isinstance(error, also)


def test_a_codegen_error_says_what_failed() -> None:
    assert str(CodegenError("ruff is not installed")) == (
        "cannot generate code: ruff is not installed"
    )


def test_an_input_error_may_name_the_file() -> None:
    assert InputError("cannot read `a.pm`", "a.pm").path == "a.pm"
    assert InputError("no store").path is None
