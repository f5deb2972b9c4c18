"""Run under a shifted clock by the clock tests: ``python -m tests.runtime_store.clock_child URL``.

Prints two ISO times on one line: the store's clock, then this process's
wall clock.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from pmc.runtime.stores import open_store
from tests.fake_clock import without_sleep


def main(url: str) -> None:
    without_sleep()
    store = open_store(url)
    try:
        print(store.now().isoformat(), datetime.now(UTC).isoformat())
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1])
