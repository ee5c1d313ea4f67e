"""The playground's panels in a real browser: each used as a person would, and what it shows checked against the
API's own answers."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import pytest

from tests.browser import draw, shoot, state_of, wait
from tests.integration.playground.conftest import api

# Strokes in the drawing canvas's own pixels (224 x 224), as a person draws them.
DIGIT_STROKES = {
    "7": [((60, 50), (165, 50)), ((165, 50), (95, 185))],
    "4": [((130, 40), (60, 130)), ((60, 130), (165, 130)), ((130, 40), (130, 190))],
}


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
