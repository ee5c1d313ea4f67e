"""The playground's browser tests share one headless Chromium (tests/browser.py) for the package, against the
integration session's gateway.

PLAYGROUND_SCREENSHOTS=docs/images/playground makes the run save the screenshots docs/playground.md shows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import chromium, requested_urls, require_browser, wait
from tests.integration.conftest import KEY


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the docs' folder when asked for, else a temporary one."""
    folder = Path(os.environ.get("PLAYGROUND_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the package, with a fresh profile, in the dark palette (as on a system set to
    dark mode; headless Chromium prefers light by default)."""
    require_browser()
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        requested_urls(driver)  # drop what the browser asked for on its own before the first page
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                               {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        yield driver


@pytest.fixture
def page(browser: Any, gateway: str) -> Any:
    """The playground with the session's API key given through its form: opened again only where a test left
    it (another page, another key); otherwise as the last test left it."""
    from selenium.webdriver.common.by import By

    on_page = browser.current_url == f"{gateway}/" and browser.execute_script(
        "return document.body.dataset.loaded === 'true' && sessionStorage.getItem('torchserve-stack.api-key') === "
        "arguments[0]", KEY)
    if not on_page:
        browser.get(f"{gateway}/")
        assert browser.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches") is True
        browser.find_element(By.ID, "api-key").send_keys(KEY)
        browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
        wait(browser, lambda: browser.execute_script("return document.body.dataset.loaded") == "true")
    return browser


def api(gateway: str) -> httpx.Client:
    """A client of the session's gateway with its key: the API's own answers, to compare the page's with."""
    return httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
