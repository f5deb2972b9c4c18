"""The examples run end to end on the stores a service uses: SQLite and PostgreSQL.

This overrides the suite's ``store_url`` (which adds ``memory://``): ``pmc
replay`` runs in another process, and only a database is shared with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
