"""Golden snapshots of generated modules are stored as real ``.py`` files."""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

# The snapshots are generated modules, not tests: never collect them.
collect_ignore_glob = ["__snapshots__/*"]


class PythonSnapshotExtension(SingleFileSnapshotExtension):
    """One snapshot per file, as text with a ``.py`` name, so a review shows a Python diff."""

    _write_mode = WriteMode.TEXT
    file_extension = "py"


@pytest.fixture
def python_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(PythonSnapshotExtension)
