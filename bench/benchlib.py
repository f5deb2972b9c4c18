"""What every benchmark script shares: its options, medians, and one way to print a row.

Each script measures pmc and its baseline in the same run, on the same
machine, and prints one row per goal of issue 11's table: the two figures,
their ratio, the goal and whether it is met. A ratio, not a speed, is what
is comparable between machines.

    python bench/<name>.py [--quick] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass

# The server a script measures PostgreSQL on when --postgres is not given.
POSTGRES_ENV = ("PMC_BENCH_POSTGRES_URL", "PMC_TEST_POSTGRES_URL")


@dataclass(frozen=True)
class Options:
    quick: bool
    postgres: str | None
    repeats: int

    def seconds(self, full: float) -> float:
        """How long to run one measurement: ``full`` seconds, a fifth of it with --quick."""
        return full / 5 if self.quick else full


def options(description: str, argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short runs, one repeat")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=next((os.environ[name] for name in POSTGRES_ENV if os.environ.get(name)), None),
        help="also measure on this PostgreSQL server (default: $PMC_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    args = parser.parse_args(argv)
    return Options(args.quick, args.postgres, 1 if args.quick else args.repeats)


def median_of(repeats: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeats))


@dataclass(frozen=True)
class Row:
    """One line of the goals table, as measured."""

    what: str
    ours: str  # pmc's figure, with its unit
    baseline: str  # the baseline's figure, with its unit
    ratio: float
    goal: str  # e.g. ">= 0.3x"
    met: bool
    unit: str = "x"  # of ``ratio``; a row with an absolute goal (queries/s, ms) says its own

    def line(self) -> str:
        verdict = "met" if self.met else "NOT MET"
        return (
            f"{self.what:<58} {self.ratio:6.2f}{self.unit:<2} goal {self.goal:<8} {verdict:<8}"
            f"  ({self.ours} vs {self.baseline})"
        )


def print_rows(rows: list[Row]) -> None:
    for row in rows:
        print(row.line(), flush=True)
