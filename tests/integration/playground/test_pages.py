"""The playground and /docs as pages: labels and keyboard, safe model cards, the API's 401 message for a bad
key, Swagger UI offline, and nothing asked of any other origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.browser import requested_urls, shoot, wait
from tests.integration.playground.conftest import api


def test_every_control_has_a_label_and_the_keyboard_reaches_it(page: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    unlabelled = page.execute_script(
        "return [...document.querySelectorAll('input, select, textarea, button, canvas')].filter((e) =>"
        " !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())"
        ".map((e) => e.outerHTML.slice(0, 80));")
    assert unlabelled == []
    page.execute_script("document.getElementById('api-key').focus();")
    focused = []
    for _ in range(4):  # from the key field on: its two buttons, then into the first panel
        ActionChains(page).send_keys(Keys.TAB).perform()
        focused.append(page.switch_to.active_element.get_attribute("id") or page.switch_to.active_element.text)
    assert focused == ["Use key", "forget-key", "digit-canvas", "Read it"]


def test_model_cards_render_markdown_but_never_html(page: Any) -> None:
    """A card is markdown from training time; HTML in it must come out as text, with nothing to run or load."""
    card = ("# Model card: evil\n\n<img src=x onerror=\"document.title='pwned'\"> **bold** `code`\n\n"
            "- item <script>document.title='pwned'</script>\n\n| a | b |\n|---|---|\n| <b>x</b> | 2 |\n")
    rendered = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/playground/static/js/card.js').then(({ renderCard }) => {"
        "  const box = document.createElement('div'); box.append(renderCard(arguments[0]));"
        "  document.body.append(box);"
        "  const found = { tags: [...box.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()),"
        "                  text: box.textContent };"
        "  box.remove(); done(found); });", card)
    assert sorted(set(rendered["tags"])) == ["code", "h3", "li", "p", "strong", "table", "tbody", "td", "th",
                                              "thead", "tr", "ul"]
    assert "<img src=x onerror=" in rendered["text"]
    assert "<script>document.title='pwned'</script>" in rendered["text"]
    assert page.title == "torchserve-stack playground"


def test_a_bad_key_shows_the_apis_401_message(page: Any, gateway: str) -> None:
    from selenium.webdriver.common.by import By

    with api(gateway) as client:
        answer = client.get("/v1/models", headers={"Authorization": "Bearer not-a-key"})
    assert answer.status_code == 401
    page.find_element(By.ID, "api-key").send_keys("not-a-key")
    page.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    wait(page, lambda: page.find_element(By.ID, "status").text.startswith("401"))
    assert page.find_element(By.ID, "status").text == f"401: {answer.json()['error']}"
    assert page.find_element(By.ID, "panels").find_elements(By.CSS_SELECTOR, "section") == []
    assert page.execute_script("return sessionStorage.getItem('torchserve-stack.api-key')") == "not-a-key"
    assert page.execute_script("return localStorage.length") == 0


def test_the_docs_render_offline(browser: Any, gateway: str, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{gateway}/docs")
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 0)
    with api(gateway) as client:
        paths = client.get("/openapi.json").json()["paths"]
    summaries = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert summaries == set(paths)
    shoot(browser, browser.find_element(By.ID, "swagger-ui"), screenshots, "docs")


def test_neither_page_asks_any_other_origin(browser: Any, gateway: str) -> None:
    """Everything the browser asked for while the tests above ran (every panel used, and /docs), and for both
    pages loaded once more here: all from the gateway, or data: URLs the page made itself. chrome:// are the
    browser's own pages (its new-tab page), not the page's."""
    from selenium.webdriver.common.by import By

    seen = requested_urls(browser)
    browser.get(f"{gateway}/")
    wait(browser, lambda: browser.find_element(By.ID, "status").text not in ("", "Loading the models…"))
    browser.get(f"{gateway}/docs")
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) > 0)
    seen += requested_urls(browser)
    ours = urlsplit(gateway)
    assert any(u.startswith(f"{gateway}/playground/static/js/") for u in seen)
    assert any(u.startswith(f"{gateway}/playground/static/vendor/swagger-ui/") for u in seen)
    foreign = {u for u in seen if urlsplit(u).scheme not in ("data", "blob", "chrome")
               and (urlsplit(u).scheme, urlsplit(u).netloc) != (ours.scheme, ours.netloc)}
    assert foreign == set()
    refused = [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []  # nothing the pages do needs more than their policy allows
