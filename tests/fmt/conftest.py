"""The CLI tests here run the real command, like ``tests/cli``."""

from tests.cli.conftest import pmc

__all__ = ["pmc"]
