"""``pmc ui`` served for real, and Debian's chromium driven through chromium-driver.

``served`` runs ``pmc ui`` on a free port in a directory ``desk_project``
made; ``chromium`` starts a headless browser with
a fresh profile. Both are used by ``test_browser.py`` and by
``screenshot.py``, which takes the picture of docs/operations.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_DRIVER = Path("/usr/bin/chromedriver")
# What works here as root in a container, with nothing fetched from outside.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
STARTUP_TRIES = 300  # of 0.1 s each: how long `pmc ui` may take to listen


def require_chromium() -> None:
    """Skip without chromium and its driver; under CI=true their absence is a failure."""
    missing = [str(path) for path in (CHROMIUM, CHROMIUM_DRIVER) if not path.is_file()]
    if not missing:
        return
    message = f"no {' nor '.join(missing)}: apt-get install chromium chromium-driver"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def served(directory: Path, store: str, *options: str) -> Iterator[str]:
    """``pmc ui op_ui_desk --store store *options`` running; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "pmc", "ui", "op_ui_desk", "--store", store]
    command += ["--port", str(port), *options]
    log = directory / "ui.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=directory, stdout=output, stderr=output)
    try:
        _wait_for(port, server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(STARTUP_TRIES):
        if server.poll() is not None:
            pytest.fail(f"pmc ui exited {server.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=0.1)
    pytest.fail(f"pmc ui did not listen on port {port}:\n{log.read_text()}")


@contextlib.contextmanager
def chromium(width: int = 1200, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless chromium with a profile of its own, removed afterwards."""
    require_chromium()
    profile = tempfile.mkdtemp(prefix="pmc-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMIUM_DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
