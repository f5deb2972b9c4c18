from tests.graph.conftest import cli, pmc  # noqa: F401  (CLI runner fixtures)
