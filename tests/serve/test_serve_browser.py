"""The page in a real browser: headless Chromium, driven by Selenium, on a real server.

Set ``NMT_SERVE_SCREENSHOT_MODEL=MODEL_DIR`` to serve that model instead of the tiny one
and write the screenshot to ``docs/img/serve.png`` (how the docs' picture is made): it
shows ``NMT_SERVE_SCREENSHOT_SENTENCE`` translated with the start of the translation
edited to ``NMT_SERVE_SCREENSHOT_PREFIX``, in words.
"""

import os
import shutil
from pathlib import Path

import pytest
from serve_process import ServeProcess

from nmt.viz.links import source_label_positions

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "serve.png"
SENTENCE = os.environ.get("NMT_SERVE_SCREENSHOT_SENTENCE") or "Where is the station?"
PREFIX = os.environ.get("NMT_SERVE_SCREENSHOT_PREFIX") or "기차역은"  # typed in the translation
TYPED_ON = " 어디"  # typed after the model answered the prefix
NEXT_SENTENCE = "Thank you very much"  # the tiny model gives one of its words little attention
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


def page_state(driver):
    """The editable translation's text, its prefix and caret, and of every heatmap the
    forced rows (``data-forced``, and how many row labels are styled so) and the columns
    whose labels are marked as getting little attention."""
    return driver.execute_script(
        "const field = document.getElementById('translation');"
        "return {text: field.textContent, prefix: field.dataset.prefix, caret: caretOffset(),"
        " reset: !document.getElementById('reset').hidden,"
        " maps: [...document.querySelectorAll('svg.heatmap')].map(s => ({"
        "  forced: +s.dataset.forced, forced_labels: s.querySelectorAll('.row-label.forced')"
        "  .length, flagged: [...s.querySelectorAll('.col-label.uncovered')]"
        "  .map(l => +l.dataset.col)}))};"
    )


def translate(server, text, words, prefix=None):
    """The server's translation of ``text`` as the page asks for it."""
    body = {"text": text, "beam": 3, "n_best": 2, "attention": True, "words": words}
    if prefix is not None:
        body["prefix"] = prefix
    status, answer = server.request("/translate", body)
    assert status == 200
    [out] = answer["translations"]
    return out


def expected_shapes(server, words):
    out = translate(server, SENTENCE, words)
    cols = len(out["src_tokens"])
    return [(len(h["tgt_tokens"]), cols) for h in out["hypotheses"]], out["text"]


def expected_marks(server, text, words, prefix=None):
    """What ``page_state`` should give for ``text`` (the translation's text, its forced
    rows and its flagged columns): the API's ``prefix_tokens``, and its ``uncovered``
    word indices placed on the heatmap's columns as the plots place them."""
    out = translate(server, text, words, prefix)
    pieces = translate(server, text, False, prefix)["src_tokens"]
    n = out["prefix_tokens"]
    maps = [
        {"forced": n, "forced_labels": n,
         "flagged": source_label_positions(pieces, h["uncovered"], words=words)}
        for h in out["hypotheses"]
    ]  # fmt: skip
    return out["text"], maps


def test_the_page_translates_as_you_type_and_draws_the_attention(browser, tiny_model_dir, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    model = os.environ.get("NMT_SERVE_SCREENSHOT_MODEL") or tiny_model_dir
    screenshot = tmp_path / "serve.png" if model == tiny_model_dir else DOCS_SCREENSHOT
    server = ServeProcess(model, "--beam", "3", "--n-best", "2")

    def replace_text(element, text):
        """Click into ``element``, select all its text and type ``text`` over it."""
        element.click()
        keys = ActionChains(browser).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL)
        keys.send_keys(text).perform()

    def shows(text, maps, prefix):
        """Until the page shows the translation ``text`` continuing ``prefix`` (typed in
        the translation) with heatmaps marked as ``maps`` says."""
        state = {}

        def done(driver):
            state.update(page_state(driver))
            return (state["text"], state["maps"], state["prefix"]) == (text, maps, prefix)

        try:
            wait.until(done)
        except Exception:
            pytest.fail(f"the page shows {state}, expected {text!r} {maps} {prefix!r}")
        return state

    try:
        browser.get(server.url)
        wait = WebDriverWait(browser, WAIT)
        wait.until(lambda d: d.find_element(By.ID, "beam").get_attribute("value") == "3")
        browser.find_element(By.ID, "source").send_keys(SENTENCE)
        shapes, text = expected_shapes(server, words=False)
        wait.until(lambda d: len(heatmaps(d)) == len(shapes))
        field = browser.find_element(By.ID, "translation")
        assert field.text == text.strip()
        # One row per target token, one column per source token, one cell per pair.
        assert heatmaps(browser) == [[r, c, r, r * c] for r, c in shapes]

        cell = browser.find_element(By.CSS_SELECTOR, "svg.heatmap rect.cell")
        ActionChains(browser).move_to_element(cell).perform()
        tooltip = browser.find_element(By.ID, "tooltip")
        wait.until(lambda d: tooltip.is_displayed())
        assert "←" in tooltip.text and ":" in tooltip.text
        assert "of the attention in all" in tooltip.text  # the source word's coverage

        word_shapes, _ = expected_shapes(server, words=True)
        browser.find_element(By.CSS_SELECTOR, 'input[name="units"][value="words"]').click()
        wait.until(lambda d: [h[:2] for h in heatmaps(d)] == [list(s) for s in word_shapes])
        unprefixed = page_state(browser)
        assert not unprefixed["reset"] and all(m["forced"] == 0 for m in unprefixed["maps"])

        # Interactive translation: the user types the start of the translation, the
        # model continues it; the caret stays at the end of what was typed.
        replace_text(field, PREFIX)
        expected, maps = expected_marks(server, SENTENCE, True, PREFIX)
        assert expected.startswith(PREFIX) and expected != unprefixed["text"]
        assert maps[0]["forced"] > 0
        state = shows(expected, maps, PREFIX)
        assert state["caret"] == len(PREFIX) and state["reset"]
        assert browser.find_element(By.CSS_SELECTOR, "#translation .forced").text == PREFIX
        forced_key = '#legend [data-key="forced"]'  # "forced by your prefix"
        assert browser.find_element(By.CSS_SELECTOR, forced_key).is_displayed()

        browser.execute_async_script("document.fonts.ready.then(arguments[0]);")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(screenshot))

        # Typing on extends the prefix; in subwords, the forced rows are pieces.
        ActionChains(browser).send_keys(TYPED_ON).perform()
        longer = PREFIX + TYPED_ON
        shows(*expected_marks(server, SENTENCE, True, longer), longer)
        browser.find_element(By.CSS_SELECTOR, 'input[name="units"][value="subwords"]').click()
        shows(*expected_marks(server, SENTENCE, False, longer), longer)
        browser.execute_script("document.getElementById('translation').focus();")
        assert page_state(browser)["caret"] == len(longer)  # back after the prefix

        # The marks of a response made up to flag source words 0 and 2 ("Where", "it"):
        # in subwords both pieces of "Where" are marked, </s> never.
        made_up = browser.execute_script(
            "const h = {text: 'ab', score: 0, log_prob: 0, tgt_tokens: ['▁a', 'b', '</s>'],"
            " attention: [[.2, .2, .2, .2, .2], [.2, .2, .2, .2, .2], [.2, .2, .2, .2, .2]],"
            " coverage: [.8, .4, 0.05], uncovered: [0, 2]};"
            "const t = {source: 'Where is it', text: 'ab', prefix: 'a', prefix_tokens: 1,"
            " src_tokens: ['▁Wh', 'ere', '▁is', '▁it', '</s>'],"
            " src_words: ['Where', 'is', 'it'], truncated: false, hypotheses: [h]};"
            "render(t, false); const pieces = [...document.querySelectorAll("
            " 'svg.heatmap .col-label.uncovered')].map(l => +l.dataset.col);"
            "const forced = document.querySelectorAll('svg.heatmap .row-label.forced').length;"
            "render({...t, src_tokens: ['Where', 'is', 'it', '</s>']}, true);"
            "const words = [...document.querySelectorAll("
            " 'svg.heatmap .col-label.uncovered')].map(l => +l.dataset.col);"
            "const legend = !document.querySelector('#legend [data-key=uncovered]').hidden;"
            "return [pieces, words, forced, legend];"
        )
        assert made_up == [[0, 1, 3], [0, 2], 1, True]

        # A new source drops the prefix: the model translates it from the start again.
        replace_text(browser.find_element(By.ID, "source"), NEXT_SENTENCE)
        state = shows(*expected_marks(server, NEXT_SENTENCE, False), "")
        assert not state["reset"]
        assert not browser.find_element(By.CSS_SELECTOR, forced_key).is_displayed()

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
