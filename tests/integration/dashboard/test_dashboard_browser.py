"""A real browser (headless Debian chromium via Selenium) against a simulated run.

It loads the page, sees camera frames arrive and the readout's score move,
sends a prompt, presses the e-stop while the bus floods the page, checks the
e-stop reached the arm, and keeps a screenshot: ``dashboard.png`` in this
test's pytest tmp folder (and in ``$PHYSRES_ARTIFACTS`` when that is set, as
CI may do to keep it).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Rig, arm_status, wait_for
from test_dashboard_controls import _flood

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "headless browser test skipped: Debian packages chromium and chromium-driver are "
            "not installed (.ci/run installs them)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1600",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)  # a loaded 2-core machine
    try:
        yield driver
    finally:
        driver.quit()


def _js(driver: Any, expr: str) -> Any:
    return driver.execute_script(f"return {expr};")


def _text(driver: Any, selector: str) -> str:
    """An element's text read in one step (panels redraw it many times a second)."""
    return _js(driver, f"document.querySelector({selector!r})?.textContent || ''")


def test_a_browser_watches_the_run_prompts_the_robot_and_stops_it(
    watched: Rig, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(watched.url("/"))
    # frames arrive and are drawn
    wait_for(lambda: _js(browser, "window.physres.drawn['arm/image'] || 0") >= 5, 30, "frames")
    wait_for(lambda: _js(browser, "window.physres.drawn['esn/state'] || 0") >= 2, 30, "states")
    # the score updates
    first = wait_for(lambda: _js(browser, "window.physres.score"), 30, "a score")
    wait_for(lambda: _js(browser, "window.physres.score") != first, 30, "the score to move")
    assert "running nrmse" in _text(browser, "[data-id='readout/scored'] .score")
    # the node list shows the rig
    rows = _text(browser, "#node-rows")
    assert "arm" in rows and "esn" in rows and "readout" in rows
    # a prompt
    box = browser.find_element(By.ID, "prompt")
    box.send_keys("put the cube in the tray")
    browser.find_element(By.CSS_SELECTOR, "#prompt-form button").click()
    wait_for(lambda: _text(browser, "#prompt-result"), 10, "the prompt's answer")
    assert _text(browser, "#prompt-result").startswith("accepted")
    assert watched.controller.prompts == ["put the cube in the tray"]
    wait_for(
        lambda: "accepted" in _text(browser, "[data-id='arm/image']"),
        10,
        "the robot panel to show the prompt",
    )
    # the e-stop, pressed while the bus floods the page
    stop = threading.Event()
    flood = threading.Thread(target=_flood, args=(watched, stop), daemon=True)
    flood.start()
    try:
        wait_for(lambda: _js(browser, "window.physres.drawn['flood/video'] || 0") >= 3, 30, "flood")
        estop = browser.find_element(By.ID, "estop")
        assert estop.is_displayed()  # the bar stays on screen however long the page grows
        estop.click()
        wait_for(lambda: _js(browser, "window.physres.estop"), 10, "the e-stop's answer")
    finally:
        stop.set()
        flood.join(5)
    assert _text(browser, "#estop-result").startswith("stopped: arm")
    assert arm_status(watched)["fault"] == "e-stop"
    assert _js(browser, "window.physres.errors") == []
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if dest := os.environ.get("PHYSRES_ARTIFACTS"):
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(dest) / "dashboard.png")
