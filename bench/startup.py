"""Start-up: `pmc check` and `pmc fmt --check` on a small file against `python -c "import lark"`.

pre-commit and editors start pmc once per commit or save, so what they wait
for is a whole process: the interpreter, pmc's imports, the parser and the
check itself. Each command runs as pre-commit runs it (the ``pmc`` console
script of this interpreter, or ``python -m pmc`` when there is none), on the
reference example of the specification (about 30 lines), and is timed
against a process that only imports lark: the least any parser of the
language must pay. Runs are interleaved so that load from other processes on
the machine weighs on both sides alike.

    python bench/startup.py [--quick] [--repeats N] [--verbose]

``--verbose`` also prints the slowest imports of `pmc check`
(``python -X importtime``), cumulative, in microseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import benchlib

SMALL = Path(__file__).resolve().parents[1] / "examples" / "rebase_cleanup.pm"
GOAL = 3.0
# Process runs per repeat and side; each repeat keeps their median.
RUNS = 3
SLOWEST_IMPORTS = 25


def pmc_command() -> list[str]:
    """What pre-commit runs: the console script next to this interpreter."""
    script = Path(sys.executable).with_name("pmc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pmc"]


# What a user's process runs with: bytecode caches written and read.
ENVIRONMENT = {
    name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"
}


def wall_time(command: Sequence[str]) -> float:
    """Seconds one run of ``command`` takes; it must succeed (a failure is not a start-up)."""
    start = time.perf_counter()
    subprocess.run(
        command, env=ENVIRONMENT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def interleaved(ours: Sequence[str], baseline: Sequence[str], runs: int) -> tuple[float, float]:
    """Median seconds of ``ours`` and of ``baseline``, run turn about ``runs`` times each."""
    pairs = [(wall_time(ours), wall_time(baseline)) for _ in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def row(what: str, ours: Sequence[str], opts: benchlib.Options) -> benchlib.Row:
    baseline = [sys.executable, "-c", "import lark"]
    runs = 1 if opts.quick else RUNS
    wall_time(ours)  # the first run writes the caches: not the start-up users see each time
    measured = [interleaved(ours, baseline, runs) for _ in range(opts.repeats)]
    seconds = statistics.median(m[0] for m in measured)
    lark_seconds = statistics.median(m[1] for m in measured)
    ratio = seconds / lark_seconds
    return benchlib.Row(
        what, f"{seconds:.3f} s", f"{lark_seconds:.3f} s", ratio, f"<= {GOAL:g}x", ratio <= GOAL
    )


def slowest_imports(command: Sequence[str]) -> list[str]:
    """The lines of ``-X importtime`` for ``command`` with the largest cumulative times."""
    env = {**ENVIRONMENT, "PYTHONPROFILEIMPORTTIME": "1"}
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    timed = [line for line in lines if line.split("|")[1].strip().isdigit()]
    timed.sort(key=lambda line: int(line.split("|")[1]), reverse=True)
    return timed[:SLOWEST_IMPORTS]


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--verbose", action="store_true")
    known, rest = parser.parse_known_args()
    opts = benchlib.options(__doc__.splitlines()[0], rest)
    pmc = pmc_command()
    check = [*pmc, "check", str(SMALL)]
    fmt = [*pmc, "fmt", "--check", str(SMALL)]
    benchlib.print_rows(
        [
            row("`pmc check small.pm` vs `python -c 'import lark'`", check, opts),
            row("`pmc fmt --check small.pm` vs `python -c 'import lark'`", fmt, opts),
        ]
    )
    if known.verbose:
        print(f"\nslowest imports of `{' '.join(check)}` (self | cumulative, us):")
        for line in slowest_imports(check):
            print(line)


if __name__ == "__main__":
    main()
