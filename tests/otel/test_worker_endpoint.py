"""``pmc worker --metrics-port``: Prometheus metrics at /metrics, health at /healthz."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import pytest

from pmc.runtime.manager import ProcessManager
from pmc.runtime.stores import open_store
from tests.codegen.support import compile_text
from tests.runtime.processes import SEED
from tests.runtime.support import definition, names, seed, wait_until
from tests.runtime.test_cli import killed_if_left, start_pmc

HANDLERS = """
import os
import time

class Gated:
    def close_instance(self, task, ctx):
        if ctx.machine_id == "B" and ctx.attempt == 1:
            raise RuntimeError("API down")
        if ctx.machine_id == "Slow":
            # Runs until the test creates the file `release`.
            while not os.path.exists("release"):
                time.sleep(0.05)

def gated():
    return Gated()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "rt_rebase.py").write_text(compile_text(SEED), encoding="utf-8")
    (tmp_path / "handlers.py").write_text(HANDLERS, encoding="utf-8")
    return tmp_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, str]:
    """The status and body of GET ``url``; (0, why) if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()
    except OSError as error:
        return 0, str(error)


def worker_command(project: Path) -> list[str]:
    url = f"sqlite:///{project / 'app.db'}"
    return ["worker", "rt_rebase:RtRebase", "--tasks", "handlers:gated", "--store", url]


def run_worker(
    project: Path, *options: str, python: Sequence[str] = ("-m", "pmc")
) -> subprocess.CompletedProcess[str]:
    """``pmc worker`` of ``project`` with ``options``, run to its end (an error, here)."""
    return subprocess.run(
        [sys.executable, *python, *worker_command(project), *options],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_worker_serves_its_metrics_and_health_until_it_stops(project: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"sqlite:///{project / 'app.db'}"
    m = seed()
    started = start_pmc(*worker_command(project), "--metrics-port", str(port), cwd=project)
    with killed_if_left(started) as worker, closing(open_store(url)) as store:
        manager = ProcessManager(definition(m), store)
        wait_until(lambda: get(f"{base}/healthz")[0] == 200, timeout=30)
        manager.handle(m.RebaseFailed(rebase_id="r1", instances=["A", "B"]))
        # B's first attempt fails; its retry waits 2 s (`backoff 2s`).
        wait_until(lambda: manager.state("r1").ended, timeout=30)
        scraped, metrics = get(f"{base}/metrics")

        manager.handle(m.RebaseFailed(rebase_id="r2", instances=["Slow"]))
        wait_until(lambda: "TaskStarted" in names(manager.history("r2")), timeout=30)
        worker.send_signal(signal.SIGTERM)
        # Stopping: the slow attempt runs on, and the worker is no longer healthy.
        wait_until(lambda: get(f"{base}/healthz")[0] == 503, timeout=30)
        (project / "release").touch()
        _, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 0, stderr
    assert f"metrics at http://127.0.0.1:{port}/metrics, health at /healthz" in stderr
    assert scraped == 200
    samples = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("pmc_"))
    close = 'pmc_process="RtRebase",pmc_task="CloseInstance"'
    # A and B, then B's retry.
    assert samples[f"pmc_task_attempts_total{{{close}}}"] == "3.0"
    assert samples[f'pmc_task_outcomes_total{{{close},pmc_task_outcome="completed"}}'] == "2.0"
    assert samples[f'pmc_task_outcomes_total{{{close},pmc_task_outcome="failed"}}'] == "1.0"
    assert samples[f"pmc_task_retries_total{{{close}}}"] == "1.0"
    assert (
        samples['pmc_work_lag_seconds_count{pmc_process="RtRebase",pmc_work_kind="task"}'] == "3.0"
    )
    assert get(f"{base}/healthz")[0] == 0  # closed once the worker stopped


def test_metrics_need_the_otel_extra_and_say_how_to_install_it(project: Path) -> None:
    # OpenTelemetry made unimportable, as it is without the extra.
    script = (
        "import sys; sys.modules['opentelemetry'] = None; "
        "from pmc.cli import main; main(sys.argv[1:])"
    )
    ran = run_worker(project, "--metrics-port", "0", python=["-c", script])

    assert ran.returncode == 2
    assert ran.stderr == (
        "error: --metrics-port needs OpenTelemetry (opentelemetry is not installed): "
        "pip install 'event-sourcery-pmc[otel]'\n"
    )


def test_a_metrics_port_in_use_is_an_error_before_the_worker_starts(project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = run_worker(project, "--metrics-port", str(port))

    assert ran.returncode == 2
    assert (
        ran.stderr == f"error: cannot serve metrics on 127.0.0.1:{port}: Address already in use\n"
    )
