"""The playground in a real browser (Debian's headless Chromium, tests/browser.py) against the session's gateway:
each panel is used as a person would, and what it shows is checked against the API's own answers.

PLAYGROUND_SCREENSHOTS=docs/images/playground makes the run save the screenshots docs/playground.md shows."""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import chromium, requested_urls, require_browser
from tests.integration.conftest import KEY

WAIT_S = 60
# Strokes in the drawing canvas's own pixels (224 x 224), as a person draws them.
DIGIT_STROKES = {
    "7": [((60, 50), (165, 50)), ((165, 50), (95, 185))],
    "4": [((130, 40), (60, 130)), ((60, 130), (165, 130)), ((130, 40), (130, 190))],
}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the docs' folder when asked for, else a temporary one."""
    folder = Path(os.environ.get("PLAYGROUND_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile."""
    require_browser()
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        requested_urls(driver)  # drop what the browser asked for on its own before the first page
        yield driver


@pytest.fixture(scope="module")
def page(browser: Any, gateway: str) -> Any:
    """The playground, opened and given the session's API key through its form."""
    from selenium.webdriver.common.by import By

    # The dark palette, as on a system set to dark mode (headless Chromium prefers light by default).
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    browser.get(f"{gateway}/")
    assert browser.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches") is True
    key = browser.find_element(By.ID, "api-key")
    key.send_keys(KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    wait(browser, lambda: browser.execute_script("return document.body.dataset.loaded") == "true")
    return browser


def wait(driver: Any, condition: Any, timeout: float = WAIT_S) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda _: condition())


def state_of(driver: Any, selector: str) -> str | None:
    from selenium.webdriver.common.by import By

    value: str | None = driver.find_element(By.CSS_SELECTOR, selector).get_attribute("data-state")
    return value


def shoot(driver: Any, element: Any, folder: Path, name: str) -> None:
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


def api(gateway: str) -> httpx.Client:
    return httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)


def test_the_page_lists_every_served_model(page: Any, gateway: str) -> None:
    from selenium.webdriver.common.by import By

    with api(gateway) as client:
        served = {m["name"]: m["kind"] for m in client.get("/v1/models").json()}
    assert page.find_element(By.ID, "status").text == f"{len(served)} models served."
    image_models = {e.get_attribute("data-model") for e in page.find_elements(By.CSS_SELECTOR, ".results .result")}
    assert image_models == {name for name, kind in served.items() if kind == "image-classification"}
    others = {name for name, kind in served.items() if kind != "image-classification"}
    assert {name for name in others if page.find_elements(By.ID, f"panel-{name}")} == others
    cards = [e.get_attribute("textContent") for e in page.find_elements(By.CSS_SELECTOR, "details.card summary")]
    assert sorted(cards) == sorted(f"Model card: {name} 1.0" for name in served)


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_a_drawn_digit_is_read_by_both_models_with_a_heatmap(page: Any, screenshots: Path, digit: str) -> None:
    from selenium.webdriver.common.by import By

    panel = page.find_element(By.ID, "panel-image-classification")
    panel.find_element(By.XPATH, ".//button[text()='Clear']").click()
    canvas = page.find_element(By.ID, "digit-canvas")
    draw(page, canvas, DIGIT_STROKES[digit])
    wait(page, lambda: state_of(page, ".results") == "done")
    results = panel.find_elements(By.CSS_SELECTOR, ".results .result")
    assert {r.get_attribute("data-model"): r.find_element(By.CSS_SELECTOR, ".answer").text for r in results} == {
        "cnn_digits": f"reads {digit}", "transfer_cnn": f"reads {digit}"}
    for result in results:
        assert result.find_element(By.CSS_SELECTOR, ".call-error").text == ""
        assert result.find_element(By.CSS_SELECTOR, ".delta").text.startswith(f"explained: {digit}; convergence")
        # IG against a black baseline gives unlit pixels no attribution, so the hottest cell of the heatmap,
        # mapped back onto the drawing, must hold ink; and the heatmap canvas is painted in the overlay's red.
        x, y, w, h = (float(v) for v in result.find_element(By.CSS_SELECTOR, "canvas.heatmap")
                      .get_attribute("data-peak").split(","))
        ink = page.execute_script(
            "const c = document.getElementById('digit-canvas').getContext('2d');"
            "const d = c.getImageData(Math.max(0, arguments[0]), Math.max(0, arguments[1]), arguments[2],"
            " arguments[3]).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n;",
            math.floor(x), math.floor(y), math.ceil(w), math.ceil(h))
        assert ink > 0
        red = page.execute_script(
            "const d = arguments[0].getContext('2d').getImageData(0, 0, 160, 160).data; let n = 0;"
            "for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 40 && d[i] > d[i + 2] + 40) n++; return n;",
            result.find_element(By.CSS_SELECTOR, "canvas.heatmap"))
        assert red > 0
    if digit == "7":
        shoot(page, panel, screenshots, "draw-a-digit")


def test_the_tabular_form_shows_the_answer_and_attributions(page: Any, gateway: str, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    form = page.find_element(By.CSS_SELECTOR, "form.tabular[data-model=mlp_classifier]")
    first = form.find_element(By.CSS_SELECTOR, "input")
    first.clear()
    first.send_keys("13.5")  # a changed feature: the page must send what the form holds
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(page, lambda: form.get_attribute("data-state") == "done")
    panel = page.find_element(By.ID, "panel-mlp_classifier")
    features = [float(i.get_attribute("value")) for i in form.find_elements(By.CSS_SELECTOR, "input")]
    with api(gateway) as client:
        example = client.get("/v1/models/mlp_classifier").json()["example_request"]["features"]
        assert features[0] == 13.5
        assert features[1:] == pytest.approx(example[1:], rel=1e-5)  # the example row, as the form shows it
        expected = client.post("/v1/models/mlp_classifier/predict", json={"features": features}).json()
        explained = client.post("/v1/models/mlp_classifier/explain", json={"features": features}).json()
    assert panel.find_element(By.CSS_SELECTOR, ".answer").text == expected["label"]
    bars = panel.find_elements(By.CSS_SELECTOR, ".attributions .bar")
    assert [b.get_attribute("aria-label").split(": ")[0] for b in bars] == explained["feature_names"]
    assert len(panel.find_elements(By.CSS_SELECTOR, ".probabilities .bar")) == 3
    assert panel.find_element(By.CSS_SELECTOR, ".attributions h3").text == f"Why {explained['target']}"
    shoot(page, panel, screenshots, "tabular")

    regression = page.find_element(By.CSS_SELECTOR, "form.tabular[data-model=linear_regression]")
    regression.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(page, lambda: regression.get_attribute("data-state") == "done")
    shown = [float(i.get_attribute("value")) for i in regression.find_elements(By.CSS_SELECTOR, "input")]
    with api(gateway) as client:
        prediction = client.post("/v1/models/linear_regression/predict", json={"features": shown}).json()["prediction"]
    answer = page.find_element(By.CSS_SELECTOR, "#panel-linear_regression .answer").text
    assert answer == f"prediction {prediction:.3f}"


def test_a_gan_grid_is_read_back_by_cnn_digits(page: Any, gateway: str, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    panel = page.find_element(By.ID, "panel-dcgan_digits")
    Select(panel.find_element(By.CSS_SELECTOR, "select")).select_by_value("3")
    panel.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(page, lambda: state_of(page, "#panel-dcgan_digits .grid") == "done")
    images = [i.get_attribute("src") for i in panel.find_elements(By.CSS_SELECTOR, ".grid img")]
    shown = [c.text for c in panel.find_elements(By.CSS_SELECTOR, ".grid figcaption")]
    with api(gateway) as client:
        made = client.post("/v1/models/dcgan_digits/predict", json={"digit": 3, "count": 8, "seed": 7}).json()
        read = client.post("/v1/models/cnn_digits/predict", json={"image": made["images"]}).json()["label"]
    assert images == [f"data:image/png;base64,{png}" for png in made["images"]]
    assert shown == [f"reads {label}" for label in read]
    agree = sum(label == "3" for label in read)
    assert panel.find_element(By.CSS_SELECTOR, ".answer").text == f"{agree} of 8 read back as 3 by cnn_digits"
    assert base64.b64decode(made["images"][0])[:8] == b"\x89PNG\r\n\x1a\n"
    shoot(page, panel, screenshots, "gan-grid")


def test_generated_text_appears(page: Any, gateway: str, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    panel = page.find_element(By.ID, "panel-char_rnn")
    prompt = panel.find_element(By.CSS_SELECTOR, "textarea")
    prompt.clear()
    prompt.send_keys("def main():\n    ")
    seed = panel.find_element(By.XPATH, ".//label[text()='Seed']/following-sibling::input[1]")
    seed.clear()
    seed.send_keys("11")
    panel.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(page, lambda: state_of(page, "#panel-char_rnn pre.text") == "done")
    with api(gateway) as client:
        expected = client.post("/v1/models/char_rnn/predict", json={
            "prompt": "def main():\n    ", "temperature": 0.8, "seed": 11, "max_new_tokens": 120}).json()["text"]
    shown = panel.find_element(By.CSS_SELECTOR, "pre.text .generated").get_attribute("textContent")
    assert shown == expected
    assert panel.find_element(By.CSS_SELECTOR, ".latency").text.startswith("latency: ")
    shoot(page, panel, screenshots, "text")


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


def test_the_pages_cartpole_follows_gymnasium_exactly(page: Any) -> None:
    """The page's physics against gymnasium's own CartPole-v1 from the same state and the same actions."""
    import gymnasium

    start = [0.03, -0.2, 0.04, 0.3]
    actions = [1, 0, 0, 1, 1, 1, 0, 1, 0, 0] * 12
    ours = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/playground/static/js/cartpole-env.js').then(({ CartPole }) => {"
        "  const env = new CartPole(0, arguments[0]); const out = [];"
        "  for (const a of arguments[1]) { const s = env.step(a); out.push([env.state, s.terminated, s.truncated]);"
        "    if (s.terminated) break; }"
        "  done(out); });", start, actions)
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    env.unwrapped.state = list(start)
    for (state, terminated, truncated), action in zip(ours, actions, strict=False):
        _, reward, their_terminated, their_truncated, _ = env.step(action)
        assert state == pytest.approx(list(env.unwrapped.state), rel=1e-12, abs=1e-12)
        assert (terminated, truncated, reward) == (their_terminated, their_truncated, 1.0)
    assert ours[-1][1]  # the sequence ran into a termination limit, so the limits were compared too
    env.close()


def test_the_dqn_balances_the_pole_in_the_page(page: Any, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    panel = page.find_element(By.ID, "panel-dqn_cartpole")
    panel.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(page, lambda: state_of(page, "#panel-dqn_cartpole .cartpole-readout") == "done", timeout=180)
    readout = panel.find_element(By.CSS_SELECTOR, ".cartpole-readout")
    assert float(readout.get_attribute("data-return")) >= 195
    assert panel.find_element(By.CSS_SELECTOR, ".call-error").text == ""
    shoot(page, panel, screenshots, "cartpole")


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

