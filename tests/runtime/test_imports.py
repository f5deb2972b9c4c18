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


def test_the_manager_and_workers_import_nothing_from_the_compiler() -> None:
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE], check=True, capture_output=True, text=True
        ).stdout
    )

    assert {"pmc.runtime.manager", "pmc.runtime.worker", "pmc.runtime.stores.sql"} <= set(loaded)
    # Nor an optional extra: the asyncio classes need no web framework, and the
    # runtime reports to a no-op telemetry until pmc.otel installs one.
    optional = ("lark", "jinja2", "typer", "fastapi", "opentelemetry", "prometheus_client")
    assert [m for m in loaded if m.split(".")[0] in optional] == []
    outside = [
        m
        for m in loaded
        if m.startswith("pmc.") and m != "pmc.runtime" and not m.startswith("pmc.runtime.")
    ]
    # The error root, a leaf the runtime's exceptions derive from.
    assert outside == ["pmc.errors"]
