"""The runtime's exceptions are pmc errors, and keep the built-in base they had."""

from __future__ import annotations

import pytest

from pmc.errors import PmcError
from pmc.runtime import IncompatibleModule, PermanentFailure
from pmc.runtime.manager import ConflictRetriesExhausted
from pmc.runtime.stores import AppendRejected, DuplicateEventId, VersionConflict
from pmc.streams.export import ExportFormatError


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (PermanentFailure, Exception),
        (AppendRejected, Exception),
        (VersionConflict, Exception),
        (DuplicateEventId, Exception),
        (IncompatibleModule, ImportError),
        (ConflictRetriesExhausted, RuntimeError),
        (ExportFormatError, ValueError),
    ],
    ids=lambda value: value.__name__,
)
def test_each_runtime_error_is_a_pmc_error(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, PmcError)
    assert issubclass(error, builtin)


def test_an_incompatible_module_is_caught_as_a_pmc_error_and_as_an_import_error() -> None:
    for caught in (PmcError, ImportError):
        with pytest.raises(caught):
            raise IncompatibleModule("later.pm was compiled by a newer pmc")
