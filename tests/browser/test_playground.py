"""The playground and the API docs in a real browser (headless Chromium driven by Selenium).

Outside CI the tests skip when Chromium or its driver is missing; with CI=true they fail instead
(.ci/run installs Debian's `chromium` and `chromium-driver`). The server requires an API key, so the
key field is exercised on every request.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support import MODEL_DIR, LiveServer

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

API_KEY = "playground-key"
FLIGHT = "I want to fly from Boston to Denver tomorrow"
REVIEW = "A wonderful, moving film with brilliant performances."
HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>window.pwned = 1</script>'
# The network is closed and the tests may run as root: no sandbox, no GPU, nothing that phones home.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    reason = "Chromium or chromedriver not found (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "SEQSERVE_MODEL_DIR": str(MODEL_DIR),
        "SEQSERVE_METRICS_DIR": str(tmp_path_factory.mktemp("metrics-browser")),
        "SEQSERVE_API_KEY": API_KEY,
    }
    with LiveServer(env) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    binary, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1000,1200")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        chrome = webdriver.Chrome(options=options, service=Service(driver))
        try:
            yield chrome
        finally:
            chrome.quit()


def wait(browser: WebDriver, css: str, timeout: float = 20) -> WebElement:
    WebDriverWait(browser, timeout).until(lambda b: b.find_elements(By.CSS_SELECTOR, css))
    return browser.find_element(By.CSS_SELECTOR, css)


def classify(browser: WebDriver, server: LiveServer, texts: str, explain: bool = False, key: str = API_KEY) -> None:
    """Open the playground, type the key and the texts, submit with the keyboard, wait for the answer."""
    browser.get(server.url + "/")
    key_field = wait(browser, "#api-key")
    key_field.send_keys(key + Keys.TAB)  # leaving the field lists the models the key unlocks
    wait(browser, "#model-atis" if key else "#models-note")
    if explain:
        browser.find_element(By.CSS_SELECTOR, "label[for=explain]").click()
    box = browser.find_element(By.ID, "texts")
    box.clear()
    box.send_keys(texts)
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 20).until(
        lambda b: b.find_element(By.ID, "status").text.startswith(("Answered", "Error"))
    )


def test_flight_request_highlights_departure_and_destination(browser: WebDriver, server: LiveServer) -> None:
    classify(browser, server, FLIGHT)
    atis = browser.find_element(By.CSS_SELECTOR, ".bundle[data-model=atis]")
    assert atis.find_element(By.CSS_SELECTOR, ".answer-label").text == "atis_flight"
    marks = atis.find_elements(By.CSS_SELECTOR, "mark.slot")
    slots = {mark.find_element(By.CSS_SELECTOR, ".slot-value").text: mark.get_attribute("data-slot") for mark in marks}
    assert slots["Boston"] == "fromloc.city_name"
    assert slots["Denver"] == "toloc.city_name"
    label = atis.find_element(By.CSS_SELECTOR, "mark[data-slot='fromloc.city_name'] .slot-label")
    assert label.text.lower() == "fromloc.city_name" and label.is_displayed()
    assert atis.find_element(By.CSS_SELECTOR, ".slots").text.replace("\n", " ").startswith("I want to fly from Boston")


def test_an_abstaining_bundle_is_shown_out_of_scope_with_its_would_be_label(browser: WebDriver, server: LiveServer) -> None:
    classify(browser, server, FLIGHT)
    snips = browser.find_element(By.CSS_SELECTOR, ".bundle[data-model=snips]")
    assert snips.get_attribute("data-abstained") == "true" and "abstained" in snips.get_attribute("class")
    assert snips.find_element(By.CSS_SELECTOR, ".out-of-scope").text.startswith("Out of scope")
    assert snips.find_element(By.CSS_SELECTOR, ".answer-label").text  # the would-be intent, still shown
    assert float(snips.value_of_css_property("opacity")) < 1  # greyed
    atis = browser.find_element(By.CSS_SELECTOR, ".bundle[data-model=atis]")
    assert atis.get_attribute("data-abstained") == "false" and atis.find_elements(By.CSS_SELECTOR, ".out-of-scope") == []


def test_sentiment_shows_its_label_and_probability(browser: WebDriver, server: LiveServer) -> None:
    classify(browser, server, REVIEW)
    sentiment = browser.find_element(By.CSS_SELECTOR, ".bundle[data-model=sentiment]")
    assert sentiment.find_element(By.CSS_SELECTOR, ".answer-label").text == "positive"
    assert float(sentiment.find_element(By.TAG_NAME, "meter").get_attribute("value")) > 0.9


def test_markup_in_a_text_renders_as_text(browser: WebDriver, server: LiveServer) -> None:
    title = "seqserve playground"
    classify(browser, server, HOSTILE)
    assert browser.find_element(By.CSS_SELECTOR, ".result h2").text == HOSTILE
    assert browser.find_elements(By.CSS_SELECTOR, "#results img, #results script") == []
    assert browser.execute_script("return window.pwned === undefined") is True
    assert browser.title == title


def test_explain_draws_a_heat_map_and_the_screenshot_is_written(
    browser: WebDriver, server: LiveServer, tmp_path: Path
) -> None:
    classify(browser, server, f"{FLIGHT}\n{REVIEW}", explain=True)
    tokens = browser.find_elements(By.CSS_SELECTOR, ".bundle[data-model=sentiment] .heat .token")
    assert [token.text for token in tokens][:3] == ["I", "want", "to"]
    assert all(token.get_attribute("data-attribution") for token in tokens)
    strongest = max(tokens[9:], key=lambda token: float(token.get_attribute("data-attribution")))
    assert "push-5" in strongest.get_attribute("class")  # the review's strongest token gets the darkest shade
    # PLAYGROUND_SCREENSHOT=docs/playground.png writes the README's picture (64 colours keep it small)
    path = Path(os.environ.get("PLAYGROUND_SCREENSHOT", tmp_path / "playground.png"))
    browser.set_window_size(1000, browser.execute_script("return document.body.scrollHeight") + 120)
    try:
        assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
    finally:
        browser.set_window_size(1000, 1200)
    Image.open(path).convert("RGB").quantize(64).save(path, optimize=True)


def test_wrong_key_is_reported_in_the_page(browser: WebDriver, server: LiveServer) -> None:
    classify(browser, server, REVIEW, key="")
    assert "Error 401" in browser.find_element(By.ID, "status").text
    assert browser.find_elements(By.CSS_SELECTOR, ".result") == []


def test_page_fits_400_pixels_and_controls_are_labelled(browser: WebDriver, server: LiveServer) -> None:
    browser.set_window_size(400, 900)
    try:
        classify(browser, server, FLIGHT)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 400
        unlabelled = browser.execute_script(
            "return [...document.querySelectorAll('input, textarea')].filter(e => !e.labels.length).map(e => e.id)"
        )
        assert unlabelled == []
    finally:
        browser.set_window_size(1000, 1200)


@pytest.mark.parametrize(("path", "css", "text"), [
    ("/docs", ".opblock-summary-path", "/classify"),
    ("/redoc", "[role=menuitem]", "Classify one text or several"),
])
def test_api_docs_render_without_internet(browser: WebDriver, server: LiveServer, path: str, css: str, text: str) -> None:
    browser.get(server.url + path)
    WebDriverWait(browser, 30).until(
        lambda b: any(text in element.text for element in b.find_elements(By.CSS_SELECTOR, css))
    )
