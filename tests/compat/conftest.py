"""The ``pmc`` command runner of the CLI tests, for the header tests here."""

from tests.cli.conftest import pmc as pmc

__all__ = ["pmc"]
