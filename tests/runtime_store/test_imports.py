"""The runtime ships without the compiler: no lark, jinja2, typer or other pmc packages."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import pmc.runtime.stores
print(json.dumps(sorted(sys.modules)))
"""


def test_the_stores_import_nothing_from_the_compiler() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
        ).stdout
    )

    assert "pmc.runtime.stores.sql" in loaded  # the probe did import the stores
    assert [m for m in loaded if m.split(".")[0] in ("lark", "jinja2", "typer")] == []
    pmc_modules = [m for m in loaded if m == "pmc" or m.startswith("pmc.")]
    assert [
        m
        for m in pmc_modules
        if m not in ("pmc", "pmc.runtime") and not m.startswith("pmc.runtime.")
    ] == ["pmc.errors"]  # the error root, a leaf the store errors derive from
