"""Access to the grammar and templates shipped with pmc.

In a built wheel they live inside the package (``pmc/_data/``, see
``pyproject.toml``). In a source checkout or an editable install they stay at
the top of the repository, where people read them; editable installs do not
copy force-included files, so we fall back to the checkout.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT_ROOT = _PACKAGE.parent.parent


@cache
def data_dir(name: str) -> Traversable:
    """Return the directory ``name`` (``"grammar"`` or ``"templates"``)."""
    # A package on disk is read as files: `pmc check` then need not load
    # importlib.resources and zipfile (start-up, issue 11).
    packaged: Traversable = _PACKAGE / "_data" / name
    if not _PACKAGE.is_dir():  # a package in a zip: only importlib.resources reads it
        from importlib import resources

        packaged = resources.files("pmc").joinpath("_data", name)
    if packaged.is_dir():
        return packaged
    checkout = _CHECKOUT_ROOT / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"pmc is installed without its {name}/ directory")


def read_text(directory: str, filename: str) -> str:
    return data_dir(directory).joinpath(filename).read_text(encoding="utf-8")
