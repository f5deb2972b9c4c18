"""Take docs/img/inspector.png: ``python -m tests.inspector.screenshot [PATH]``.

The picture of docs/operations.md, "The inspector", taken as the browser
test runs the inspector (``browser.py``): OpDesk's ticket ``t-1042``, its
Ticket moved to Waiting from the page itself, so the page shows an action
recorded, the diagram's highlighted states, a task in flight and a timer.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from tests.inspector.browser import chromium, served
from tests.inspector.support import desk_project

DEFAULT = Path(__file__).resolve().parents[2] / "docs" / "img" / "inspector.png"


def take(path: Path) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = desk_project(Path(directory), ("t-1041", "t-1042", "t-1043"))
        with served(Path(directory), store, "--allow-actions") as url, chromium(1100, 1050) as b:
            b.get(f"{url}/instances/t-1042")
            move = b.find_element(By.ID, "move")
            Select(move.find_element(By.NAME, "to")).select_by_visible_text("Ticket.Waiting")
            move.find_element(By.NAME, "reason").send_keys("customer called back")
            move.find_element(By.TAG_NAME, "button").click()
            b.find_element(By.ID, "done")
            b.save_screenshot(str(path))


if __name__ == "__main__":
    take(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
