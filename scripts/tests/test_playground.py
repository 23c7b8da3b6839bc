"""The playground page of `unclip-run serve` in a real browser: Debian's chromium + chromium-driver, headless, driven by
selenium, against the real server on the built-in weights.

A first-time user's path: open the page, generate two images (Enter in the prompt box), open one in the editor, paint
a stroke, edit, see the result; extend the canvas once with the frame; make a variation; send an empty prompt and see
the API's message. Screenshots of each step go to scripts/tests/screenshots/ (git-ignored); one phone-width view.
"""
import os
import shutil
import time

import pytest

from test_serve import FAST, Server

if os.environ.get("CI") is None:
    webdriver = pytest.importorskip("selenium.webdriver")
    if not shutil.which("chromedriver"):
        pytest.skip("chromium-driver is not installed", allow_module_level=True)
else:
    from selenium import webdriver

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

SHOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "screenshots")


@pytest.fixture(scope="module")
def browser():
    server = Server()
    options = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800", "--disable-gpu"]:
        options.add_argument(arg)
    if shutil.which("chromium"):
        options.binary_location = shutil.which("chromium")
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_window_size(1280, 800)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver, server
    driver.quit()
    server.stop()


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def fast_settings(driver):
    """Fewer steps (the built-in model's defaults take ~4 s a picture on 2 cores): the page's own advanced options."""
    driver.find_element(By.CSS_SELECTOR, "details summary").click()
    for key, value in FAST.items():
        field = driver.find_element(By.ID, key)
        field.clear()
        field.send_keys(str(value))


def wait(driver, seconds=180):
    return WebDriverWait(driver, seconds)


def test_first_time_user_path(browser):
    driver, server = browser
    driver.get(server.base.replace("/v1", "/"))
    wait(driver, 20).until(EC.text_to_be_present_in_element((By.ID, "model"), "unclip-builtin"))
    shot(driver, "01-page")

    # Generate two images: type a prompt, Enter.
    fast_settings(driver)
    driver.find_element(By.ID, "size").send_keys("256x256")
    seed = driver.find_element(By.ID, "seed")
    seed.send_keys("5")
    prompt = driver.find_element(By.ID, "prompt")
    prompt.send_keys("a red circle on a blue background")
    prompt.send_keys(Keys.ENTER)
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gallery .card")) == 2)
    cards = driver.find_elements(By.CSS_SELECTOR, "#gallery .card")
    captions = [c.find_element(By.CSS_SELECTOR, "figcaption").text for c in cards]
    assert sorted("seed 5" in t or "seed 6" in t for t in captions) == [True, True], captions
    assert all(c.find_element(By.TAG_NAME, "img").get_property("naturalWidth") == 256 for c in cards)
    shot(driver, "02-generated")

    # Open one in the editor, paint a stroke across its middle, edit.
    cards[0].find_element(By.XPATH, ".//button[text()='Edit']").click()
    canvas = driver.find_element(By.ID, "canvas")
    wait(driver, 20).until(lambda d: d.execute_script("return editor.world !== null && editor.side === 256"))
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(driver).move_to_element_with_offset(canvas, -w // 4, 0).click_and_hold() \
        .move_by_offset(w // 4, 0).move_by_offset(w // 4, 0).release().perform()
    erased = driver.execute_script(
        "const d = editor.mask.getContext('2d').getImageData(0, 0, editor.side, editor.side).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
    assert erased > 1000, erased
    shot(driver, "03-editor-stroke")
    edit_prompt = driver.find_element(By.ID, "edit-prompt")
    edit_prompt.send_keys("a yellow square")
    driver.find_element(By.ID, "edit").click()
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#edit-results .card")) == 1)
    wait(driver, 20).until(lambda d: d.execute_script(
        "const d = editor.mask.getContext('2d').getImageData(0, 0, editor.side, editor.side).data;"
        "for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return false; return true;"))
    assert driver.find_element(By.ID, "edit-error").get_attribute("hidden") is not None
    shot(driver, "04-edited")

    # Extend the canvas once: the frame starts half past the right edge; fill it.
    driver.find_element(By.CSS_SELECTOR, "input[name='mode'][value='frame']").click()
    edit_prompt.clear()
    edit_prompt.send_keys("a red circle on a blue background")
    canvas.send_keys(Keys.ARROW_DOWN)                                         # keyboard moves the frame too
    driver.find_element(By.ID, "fill-frame").click()
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#edit-results .card")) == 2)
    size = driver.execute_script("return [editor.world.width, editor.world.height]")
    assert size == [256 + 128, 256 + 16], size
    shot(driver, "05-extended")

    # A variation of the canvas under the frame.
    driver.find_element(By.ID, "variation").click()
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#edit-results .card")) == 4)
    shot(driver, "06-variations")

    # An API error, shown as the API's message next to the form: an empty prompt.
    driver.find_element(By.ID, "tab-generate").click()
    prompt = driver.find_element(By.ID, "prompt")
    prompt.clear()
    driver.find_element(By.ID, "generate").click()
    error = wait(driver, 30).until(EC.visibility_of_element_located((By.ID, "generate-error")))
    assert error.text == "prompt is empty (field: prompt)", error.text
    shot(driver, "07-error")

    # Phone width: one column, still usable.
    driver.set_window_size(390, 844)
    time.sleep(0.3)
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(driver, "08-phone")
    driver.set_window_size(1280, 800)
