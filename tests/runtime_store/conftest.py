"""Fixtures of the store tests that need event-sourcery's own SQL backend beside pmc's."""

from __future__ import annotations

import pytest


@pytest.fixture
def sql_url(store_url: str) -> str:
    """The SQLite and PostgreSQL store URLs (event-sourcery has no in-memory twin of ours)."""
    if store_url == "memory://":
        pytest.skip("event-sourcery's SQLAlchemy backend needs a database")
    return store_url
