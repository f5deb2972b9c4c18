"""The manager and the workers ship without the compiler, like the stores."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import pmc.runtime.manager, pmc.runtime.worker, pmc.runtime.aio
print(json.dumps(sorted(sys.modules)))
"""

# The compiler's dependencies, the web stack of the FastAPI example (the
# framework, its toolkit, its test client and the async library under them),
# the otel extra (the runtime reports to a no-op telemetry until pmc.otel
# installs one), and the highlight extra's Pygments.
COMPILER_AND_EXTRAS = (
    "lark",
    "jinja2",
    "typer",
    "fastapi",
    "starlette",
    "httpx",
    "httpx2",
    "anyio",
    "opentelemetry",
    "prometheus_client",
    "pygments",
)


def test_the_manager_and_workers_import_nothing_from_the_compiler() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
        ).stdout
    )

    assert {"pmc.runtime.manager", "pmc.runtime.worker", "pmc.runtime.stores.sql"} <= set(loaded)
    # Nor an optional extra: the asyncio classes need no web framework.
    assert [m for m in loaded if m.split(".")[0] in COMPILER_AND_EXTRAS] == []
    outside = [
        m
        for m in loaded
        if m.startswith("pmc.") and m != "pmc.runtime" and not m.startswith("pmc.runtime.")
    ]
    # The error root, a leaf the runtime's exceptions derive from.
    assert outside == ["pmc.errors"]
