"""The web UI in real headless Chromium (Debian's chromium + chromedriver through selenium):
open the page, upload an image, ask a question, see a streamed answer and its timing stats, run
the Timing tab. Screenshots go to test-artifacts/."""
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import GOLDEN


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    yield driver
    driver.quit()


def test_chat_with_image_streams_an_answer(server, browser, artifacts):
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "ready" in d.find_element(By.ID, "status").text)
    image = sorted((GOLDEN / "images").glob("*.png"))[0]
    browser.find_element(By.ID, "file").send_keys(str(image))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#pending img"))
    browser.find_element(By.ID, "max-tokens").clear()
    browser.find_element(By.ID, "max-tokens").send_keys("12")
    browser.find_element(By.ID, "prompt").send_keys("What is in this picture?")
    browser.find_element(By.ID, "send").click()
    stats = wait.until(lambda d: [s for s in d.find_elements(By.CSS_SELECTOR, ".msg.assistant .stats")
                                  if "TTFT" in s.text])
    assert "tok/s" in stats[0].text and "image" in stats[0].text
    user = browser.find_element(By.CSS_SELECTOR, ".msg.user")
    assert user.find_elements(By.TAG_NAME, "img"), "the uploaded image shows in the conversation"
    answer = browser.find_element(By.CSS_SELECTOR, ".msg.assistant")
    assert answer.text.strip() != ""
    browser.save_screenshot(str(artifacts / "web-ui-chat.png"))

    browser.set_window_size(390, 844)  # phone width: still usable
    assert browser.find_element(By.ID, "send").is_displayed()
    browser.save_screenshot(str(artifacts / "web-ui-phone.png"))
    browser.set_window_size(1100, 900)


def test_timing_tab_measures_and_draws(server, browser, artifacts):
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: "ready" in d.find_element(By.ID, "status").text)
    browser.find_element(By.ID, "tab-timing").click()
    for field, value in (("t-loops", "2"), ("t-repeats", "2"), ("t-max-tokens", "4")):
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "t-run").click()
    result = wait.until(lambda d: "per loop" in d.find_element(By.ID, "timing-result").text and
                        d.find_element(By.ID, "timing-result"))
    assert "mean ± std. dev. of 2 runs, 2 loops each" in result.text
    assert "best of 2" in result.text
    drawn = browser.execute_script(
        "const c = document.getElementById('t-chart');"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
    assert drawn > 500, "the histogram was drawn"
    browser.save_screenshot(str(artifacts / "web-ui-timing.png"))
