"""Handled input events per second: ProcessManager.handle on SQLite, against its floors.

Three numbers from one run on one machine, so their ratios are comparable:
- ``ProcessManager.handle`` of a small generated process (every event plans
  one transition: the input event and a TransitionPlanned in one append);
- the store alone doing one append per step (bench/store_append.py's step);
- raw sqlite3 in WAL mode doing the same reads and writes (its baseline).

    python bench/handle_events.py [--seconds 6] [--streams 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from store_append import measure, raw_step, store_step

from pmc.compiler import compile_source
from pmc.runtime import ProcessManager
from pmc.runtime.stores import open_store
from pmc.source import SourceFile

PROCESS = """
process HandleBench {
    key id

    event Ping {
        id: str
        n: int
    }

    event Stop {
        id: str
    }

    machine Counter {
        states Idle, Busy, Done
        initial Idle
        final Done

        transition go: Idle -> Busy on Ping
        transition again: Busy -> Busy on Ping
        transition stop: Idle, Busy -> Done on Stop
    }
}
"""


def compiled(directory: Path) -> ModuleType:
    code = compile_source(SourceFile("handle_bench.pm", PROCESS)).code
    assert code is not None, "the benchmark process must check clean"
    path = directory / "handle_bench.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("handle_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["handle_bench"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per measurement")
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        m = compiled(root)
        manager = ProcessManager(m.DEFINITION, open_store(f"sqlite:///{root / 'pm.db'}"))

        def handle(i: int) -> None:
            manager.handle(m.Ping(id=f"k{i % args.streams}", n=i))

        handled = measure(handle, args.seconds)
        appended = measure(store_step(root / "store.db", args.streams), args.seconds)
        raw = measure(raw_step(root / "raw.db", args.streams), args.seconds / 2)
    print(f"ProcessManager.handle (sqlite):   {handled:9.0f} events/s")
    print(f"store append alone (sqlite):      {appended:9.0f} appends/s")
    print(f"raw sqlite3 (WAL, same work):     {raw:9.0f} appends/s")
    print(f"ratio store/handle: {appended / handled:.1f}x   raw/handle: {raw / handled:.1f}x")


if __name__ == "__main__":
    main()
