"""The inspector in a real browser: ``pmc ui --allow-actions`` served by uvicorn, read by chromium.

An operator opens the list, clicks an instance, sees its diagram with the
current states in the highlight colour (read from a screenshot's pixels),
opens an event's payload, cancels the instance and finds the cancel on the
timeline.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By

from pmc.inspector.diagram import HIGHLIGHT, NODE_FILL
from tests.inspector.browser import chromium, require_chromium, served
from tests.inspector.support import desk_project

pytestmark = pytest.mark.browser

KEYS = ("t1", "t2", "<b>odd & 'key'</b>")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    directory = tmp_path_factory.mktemp("inspector")
    store = desk_project(directory, KEYS)
    with served(directory, store, "--allow-actions") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def share_of(png: bytes, colour: str) -> float:
    """How much of a screenshot is ``colour``."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    size = image.width * image.height
    counts = {pixel: count for count, pixel in image.getcolors(size) or []}
    return counts.get(rgb(colour), 0) / size


def test_list_instance_diagram_payload_and_action(base_url: str, browser: webdriver.Chrome) -> None:
    browser.get(base_url + "/")
    keys = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "td.key a")]
    assert sorted(keys) == sorted(KEYS)  # the odd key as text

    browser.find_element(By.LINK_TEXT, "t1").click()
    assert browser.find_element(By.CSS_SELECTOR, "h2.key").text == "t1"
    diagram = browser.find_element(By.CSS_SELECTOR, "#diagram svg")
    assert diagram.is_displayed()

    # The diagram rendered: the current states are drawn in the highlight colour.
    current = browser.find_element(
        By.CSS_SELECTOR, 'g[data-machine="Ticket"] g.current[data-state="Notifying"] rect'
    )
    assert share_of(current.screenshot_as_png, HIGHLIGHT) > 0.5
    other = browser.find_element(
        By.CSS_SELECTOR, 'g[data-machine="Ticket"] g[data-state="New"] rect'
    )
    assert share_of(other.screenshot_as_png, NODE_FILL) > 0.5
    assert share_of(other.screenshot_as_png, HIGHLIGHT) == 0
    assert share_of(diagram.screenshot_as_png, HIGHLIGHT) > 0.01

    # A payload opens on a click.
    first_event = browser.find_element(By.CSS_SELECTOR, "#timeline details")
    payload = first_event.find_element(By.TAG_NAME, "pre")
    assert not payload.is_displayed()
    first_event.find_element(By.TAG_NAME, "summary").click()
    assert payload.is_displayed()
    assert '"ticket_id": "t1"' in payload.text

    # An action, recorded and on the timeline.
    cancel = browser.find_element(By.ID, "cancel")
    cancel.find_element(By.NAME, "reason").send_keys("customer withdrew")
    cancel.find_element(By.TAG_NAME, "button").click()
    assert "cancel recorded" in browser.find_element(By.ID, "done").text
    assert browser.find_element(By.ID, "status").text == "cancelled"
    events = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#timeline summary")]
    assert events[-2:] == ["OpUiDesk.pmc:OperatorCancelled", "OpUiDesk.ProcessCancelled"]
    recorded = browser.find_elements(By.CSS_SELECTOR, "#timeline details")[-2]
    recorded.find_element(By.TAG_NAME, "summary").click()
    text = recorded.find_element(By.TAG_NAME, "pre").text
    assert '"reason": "customer withdrew"' in text
    assert '"by": "ui:' in text


def test_a_page_of_another_origin_cannot_act(
    base_url: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    # A form on a page of another origin, posting to the inspector with a guessed token.
    attack = tmp_path / "attack.html"
    attack.write_text(
        f'<form id="f" method="post" action="{base_url}/actions/cancel">'
        '<input name="csrf" value="guess"><input name="key" value="t2">'
        '<input name="by" value="x"><input name="reason" value="y"></form>',
        "utf-8",
    )
    browser.get(attack.as_uri())
    browser.find_element(By.ID, "f").submit()
    assert "CSRF token is missing or wrong" in browser.find_element(By.ID, "error").text
    browser.get(base_url + "/instances/t2")
    assert browser.find_element(By.ID, "status").text == "running"
