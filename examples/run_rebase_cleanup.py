"""The reference scenario, end to end: compile, start workers, feed an event, print the stream.

    python examples/run_rebase_cleanup.py                     # a throwaway SQLite file
    python examples/run_rebase_cleanup.py --store sqlite:///rebase_cleanup.db
    python examples/run_rebase_cleanup.py --store postgresql://user@host:5432/db

It compiles ``examples/rebase_cleanup.pm`` into ``examples/rebase_cleanup.py``
exactly as ``pmc compile examples/rebase_cleanup.pm`` does, imports it, starts
two workers in threads with demo handlers, handles
``RebaseFailed(rebase_id="r1", instances=["A", "B", "C"])`` and waits for the
process to end. The handler for instance B fails its first attempt, so the
stream also shows a retry (``retry 3 backoff 2s``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from pmc.codegen.emit import write_generated
from pmc.compiler import compile_source
from pmc.runtime import TaskContext
from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import StoredEvent, open_store
from pmc.runtime.worker import Worker
from pmc.source import SourceFile

SOURCE = Path(__file__).resolve().parent / "rebase_cleanup.pm"
SHOWN_FIELDS = (
    "instances",
    "machine_id",
    "transition",
    "from_state",
    "to_state",
    "attempt",
    "worker",
    "reason",
    "not_before",
)


def compile_process(out_dir: Path) -> ModuleType:
    """Generate ``rebase_cleanup.py`` into ``out_dir`` (unless up to date) and import it."""
    text = SOURCE.read_text(encoding="utf-8")
    code = compile_source(SourceFile(SOURCE.name, text)).code
    if code is None:
        raise SystemExit(f"{SOURCE} does not check: run `pmc check {SOURCE}`")
    write_generated(out_dir / "rebase_cleanup.py", code)
    sys.path.insert(0, str(out_dir))
    return importlib.import_module("rebase_cleanup")


class DemoTasks:
    """Pretends to close cloud instances; B's API is down on the first try."""

    def close_instance(self, task: Any, ctx: TaskContext) -> None:
        time.sleep(0.2)
        if ctx.machine_id == "B" and ctx.attempt == 1:
            raise ConnectionError("cloud API timed out")
        print(f"  closed instance {ctx.machine_id} ({task.reason}, attempt {ctx.attempt})")


def describe(stored: StoredEvent) -> str:
    event = stored.event
    task_id = getattr(event, "task_id", None)
    shown = [f"task={str(task_id)[:8]}"] if task_id is not None else []
    shown += [
        f"{name}={getattr(event, name)}"
        for name in SHOWN_FIELDS
        if getattr(event, name, None) is not None
    ]
    return f"{stored.version:>3}  {type(event).__name__:<19} {' '.join(shown)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store URL (default: a new SQLite file)")
    parser.add_argument("--rebase-id", default="r1")
    parser.add_argument("--instances", nargs="+", default=["A", "B", "C"])
    args = parser.parse_args(argv)
    # Failed attempts are logged as warnings: show them as they happen.
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")

    with tempfile.TemporaryDirectory(prefix="pmc-demo-") as scratch:
        url = args.store or f"sqlite:///{Path(scratch) / 'rebase_cleanup.db'}"
        m = compile_process(SOURCE.parent)
        store = open_store(url)
        manager = ProcessManager(m.DEFINITION, store)
        workers = [
            Worker(m.DEFINITION, store, DemoTasks(), worker_id=f"demo-{n}", concurrency=2)
            for n in (1, 2)
        ]
        print(f"store: {url}")
        for worker in workers:
            worker.start()
        try:
            result = manager.handle(
                m.RebaseFailed(rebase_id=args.rebase_id, instances=args.instances)
            )
            print(f"handled RebaseFailed({args.rebase_id}): {result.status}")
            deadline = time.monotonic() + 30
            while not manager.state(args.rebase_id).ended and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for worker in workers:
                worker.stop()
        state = manager.state(args.rebase_id)
        print(f"\nstream {m.DEFINITION.category}/{args.rebase_id}:")
        for stored in manager.history(args.rebase_id):
            print(describe(stored))
        print(f"\nprocess {state.end or 'still running'}: {dict(state.instances_of('Instance'))}")
        store.close()
    return 0 if state.ended else 1


if __name__ == "__main__":
    sys.exit(main())
