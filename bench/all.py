"""Every row of issue 11's table: runs each benchmark script and prints one table.

Each script runs in a process of its own (a fresh interpreter, nothing
warmed up by another), with the options given here passed through:
``--quick`` (one short repeat each; the whole run stays under two minutes,
PostgreSQL included), ``--postgres URL`` (rows measured on PostgreSQL too;
the PostgreSQL-only rows need it) and ``--repeats N``. A script that fails
is reported with its error output and makes the run exit non-zero; the
others still run. Each script's rows are also printed as it finishes.

    python bench/all.py [--quick] [--postgres URL] [--repeats N]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import benchlib

BENCH = Path(__file__).resolve().parent
# In the order of the table; a script another branch has not landed yet is skipped.
SCRIPTS = (
    "handle",
    "stream_length",
    "tasks",
    "workers",
    "idle",
    "decide",
    "startup",
    "telemetry",
    "lsp",
    "aio",
)


def passed_through(options: benchlib.Options) -> list[str]:
    flags = ["--quick"] if options.quick else ["--repeats", str(options.repeats)]
    return flags + (["--postgres", options.postgres] if options.postgres else [])


def run(script: Path, flags: list[str]) -> tuple[list[str], str | None]:
    """The rows ``script`` printed, and its error output if it failed."""
    done = subprocess.run(
        [sys.executable, str(script), *flags], capture_output=True, text=True, check=False
    )
    rows = [line for line in done.stdout.splitlines() if line.strip()]
    return rows, None if done.returncode == 0 else done.stderr.strip()


def main() -> None:
    options = benchlib.options(__doc__.splitlines()[0])
    flags = passed_through(options)
    table: list[str] = []
    failed = []
    start = time.perf_counter()
    for name in SCRIPTS:
        script = BENCH / f"{name}.py"
        if not script.exists():
            print(f"-- {name}.py: not there, skipped", file=sys.stderr, flush=True)
            continue
        began = time.perf_counter()
        rows, error = run(script, flags)
        print(f"-- {name}.py ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
        print("\n".join(rows), file=sys.stderr, flush=True)
        table.extend(rows)
        if error is not None:
            failed.append(name)
            print(f"{name}.py failed:\n{error}", file=sys.stderr, flush=True)
    if not options.postgres:
        table.append("(PostgreSQL rows skipped: give --postgres URL or $PMC_BENCH_POSTGRES_URL)")
    print(f"\n{len(table)} rows in {time.perf_counter() - start:.0f} s", flush=True)
    print("\n".join(table))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
