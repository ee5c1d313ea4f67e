"""Debian's headless Chromium driven by Selenium through chromium-driver, for the browser tests.

Browser downloads fail on these machines (and Selenium Manager would try one), so the driver and the browser
are the system's own: `make test` installs them with apt (Makefile, `browser`). The flags keep Chromium from
calling home on a closed network, where those calls hang or fail noisily."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 60
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1600")


def require_browser() -> None:
    """Skip where Chromium is not installed, except in CI (`make test` installs it there, so its absence fails)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver; `make browser`)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile in `profile`, recording its network events and console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the browser has asked for since the last call (the performance log is drained as it is read)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def wait(driver: Any, condition: Any, timeout: float = WAIT_S) -> None:
    """Until `condition()` holds, or fail after `timeout` seconds."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda _: condition())


def state_of(driver: Any, selector: str) -> str | None:
    """The `data-state` of the first element `selector` matches (the page's panels set it as calls finish)."""
    from selenium.webdriver.common.by import By

    value: str | None = driver.find_element(By.CSS_SELECTOR, selector).get_attribute("data-state")
    return value


def shoot(driver: Any, element: Any, folder: Path, name: str) -> None:
    """A screenshot of `element`, scrolled into view, as `folder/name.png`."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
    element.screenshot(str(folder / f"{name}.png"))


def draw(driver: Any, canvas: Any, strokes: list[tuple[tuple[int, int], tuple[int, int]]]) -> None:
    """Each stroke as pointer down, eight moves, pointer up, in the canvas's pixel coordinates."""
    from selenium.webdriver.common.action_chains import ActionChains

    scale = canvas.size["width"] / 224
    for (x0, y0), (x1, y1) in strokes:
        chain = ActionChains(driver, duration=0)
        chain.move_to_element_with_offset(canvas, (x0 - 112) * scale, (y0 - 112) * scale).click_and_hold()
        for _ in range(8):
            chain.move_by_offset((x1 - x0) * scale / 8, (y1 - y0) * scale / 8)
        chain.release().perform()
