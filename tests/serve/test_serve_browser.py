"""The page in a real browser: headless Chromium, driven by Selenium, on a real server.

Set ``NMT_SERVE_SCREENSHOT_MODEL=MODEL_DIR`` to serve that model instead of the tiny one
and write the screenshot to ``docs/img/serve.png`` (how the docs' picture is made).
"""

import os
import shutil
from pathlib import Path

import pytest
from serve_process import ServeProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "serve.png"
SENTENCE = "Where is the station?"
WAIT = 60  # seconds; the first load also fetches the packaged CJK font

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian: apt-get install chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1100,1000", "--force-device-scale-factor=1",
                 # Offline: no host but the server's resolves, so anything the page or
                 # the API docs fetched from the internet would fail to load.
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def heatmaps(driver):
    """``(rows, cols, g.row count, cell count)`` of every heatmap on the page."""
    return driver.execute_script(
        "return [...document.querySelectorAll('svg.heatmap')].map(s => [+s.dataset.rows, "
        "+s.dataset.cols, s.querySelectorAll('g.row').length, "
        "s.querySelectorAll('rect.cell').length]);"
    )


def expected_shapes(server, words):
    body = {"text": SENTENCE, "beam": 3, "n_best": 2, "attention": True, "words": words}
    status, answer = server.request("/translate", body)
    assert status == 200
    [out] = answer["translations"]
    cols = len(out["src_tokens"])
    return [(len(h["tgt_tokens"]), cols) for h in out["hypotheses"]], out["text"]


def test_the_page_translates_as_you_type_and_draws_the_attention(browser, tiny_model_dir, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    model = os.environ.get("NMT_SERVE_SCREENSHOT_MODEL") or tiny_model_dir
    screenshot = tmp_path / "serve.png" if model == tiny_model_dir else DOCS_SCREENSHOT
    server = ServeProcess(model, "--beam", "3", "--n-best", "2")
    try:
        browser.get(server.url)
        wait = WebDriverWait(browser, WAIT)
        wait.until(lambda d: d.find_element(By.ID, "beam").get_attribute("value") == "3")
        browser.find_element(By.ID, "source").send_keys(SENTENCE)
        shapes, text = expected_shapes(server, words=False)
        wait.until(lambda d: len(heatmaps(d)) == len(shapes))
        assert browser.find_element(By.ID, "translation").text == text.strip()
        # One row per target token, one column per source token, one cell per pair.
        assert heatmaps(browser) == [[r, c, r, r * c] for r, c in shapes]

        cell = browser.find_element(By.CSS_SELECTOR, "svg.heatmap rect.cell")
        ActionChains(browser).move_to_element(cell).perform()
        tooltip = browser.find_element(By.ID, "tooltip")
        wait.until(lambda d: tooltip.is_displayed())
        assert "←" in tooltip.text and ":" in tooltip.text

        word_shapes, _ = expected_shapes(server, words=True)
        browser.find_element(By.CSS_SELECTOR, 'input[name="units"][value="words"]').click()
        wait.until(lambda d: [h[:2] for h in heatmaps(d)] == [list(s) for s in word_shapes])

        browser.execute_async_script("document.fonts.ready.then(arguments[0]);")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(screenshot))
        # Nothing failed to load, the favicon included.
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors

        # The API docs render offline too: Swagger UI lists the routes, ReDoc as well.
        browser.get(server.url + "docs")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")) >= 4)
        browser.get(server.url + "redoc")
        wait.until(lambda d: "/translator/translate" in d.find_element(By.TAG_NAME, "body").text)
    finally:
        assert server.stop() == 0
    assert screenshot.stat().st_size > 10_000
