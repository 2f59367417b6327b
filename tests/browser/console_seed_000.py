"""Seed 000 in headless Chromium, through Keyway's tenant console:

1. sign in with the user's API key;
2. `mock-gpt-byok` shows the orange key (missing);
3. add a key in the key dialog, and it turns green;
4. chat in the playground (streamed by the page's script), and the answer
   shows `[Authenticated as …]` from mock-llm's auth mode;
5. remove the key, and it is orange again and unselectable.

Run by tests/e2e/console_browser.rs:
`python console_seed_000.py BASE_URL API_KEY BYOK_SECRET IDENTITY SCREENSHOT_DIR`.
Uses Debian's `chromium` and `chromium-driver` (no browser download):
CHROMIUM and CHROMEDRIVER override their paths.
"""

import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

MODEL = "mock-gpt-byok"


def row(driver):
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-model="{MODEL}"]')


def key_icon(driver):
    return row(driver).find_element(By.CSS_SELECTOR, "a.key")


def option_disabled(driver):
    driver.get(driver.base + "/console/playground")
    option = driver.find_element(By.CSS_SELECTOR, f'#model option[value="{MODEL}"]')
    return option.get_attribute("disabled") is not None


def main(base, api_key, secret, identity, shots):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,800"]:
        options.add_argument(arg)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.base = base
    # A form posts and the page reloads: an element found just before the
    # reload goes stale under the condition, which then simply asks again.
    wait = WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException])
    shot = lambda name: driver.save_screenshot(os.path.join(shots, f"console-{name}.png"))
    try:
        # 1. Sign in.
        driver.get(base + "/console/sign-in")
        shot("sign-in")
        driver.find_element(By.NAME, "key").send_keys(api_key)
        driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
        wait.until(ec.url_contains("/console/models"))

        # 2. The orange key.
        assert row(driver).get_attribute("data-state") == "missing", "the key is not missing at first"
        color = key_icon(driver).value_of_css_property("color")
        assert color.startswith("rgba(224, 123, 0"), f"the missing key is not orange: {color}"
        assert option_disabled(driver), f"{MODEL} is selectable without a key"
        driver.get(base + "/console/models")
        shot("models-key-missing")
        print("orange key shown; model unselectable")

        # 3. Add a key in the dialog (opened by the script), and it turns green.
        key_icon(driver).click()
        dialog = row(driver).find_element(By.CSS_SELECTOR, "dialog")
        wait.until(lambda d: dialog.get_attribute("open") is not None)
        shot("key-dialog")
        dialog.find_element(By.NAME, "key").send_keys(secret)
        dialog.find_element(By.CSS_SELECTOR, 'button[value="save"]').click()
        wait.until(lambda d: row(d).get_attribute("data-state") == "stored")
        color = key_icon(driver).value_of_css_property("color")
        assert color.startswith("rgba(31, 157, 85"), f"the stored key is not green: {color}"
        assert secret not in driver.page_source, "the page shows the key back"
        driver.get(base + "/console/models")
        shot("models-key-stored")
        print("green key after adding it")

        # 4. Chat in the playground; the answer streams in.
        driver.get(base + "/console/playground")
        Select(driver.find_element(By.ID, "model")).select_by_value(MODEL)
        driver.find_element(By.ID, "message").send_keys("Hello from the console")
        driver.find_element(By.ID, "send").click()
        expected = f"[Authenticated as {identity}]"
        wait.until(lambda d: any(expected in p.text for p in d.find_elements(By.CSS_SELECTOR, ".msg.assistant")))
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".streaming"))
        shot("playground")
        print(f"playground answered with {expected}")

        # 5. Remove the key: orange again, unselectable.
        driver.get(base + "/console/models")
        key_icon(driver).click()
        dialog = row(driver).find_element(By.CSS_SELECTOR, "dialog")
        wait.until(lambda d: dialog.get_attribute("open") is not None)
        dialog.find_element(By.CSS_SELECTOR, 'button[value="remove"]').click()
        wait.until(lambda d: row(d).get_attribute("data-state") == "missing")
        assert option_disabled(driver), f"{MODEL} is still selectable after removing the key"
        driver.get(base + "/console/models")
        shot("models-key-removed")
        print("orange again and unselectable after removing the key")

        # The usage page charts the chat (once the projector has folded it).
        def charted(d):
            d.get(base + "/console/usage")
            return d.find_elements(By.CSS_SELECTOR, "figure.chart rect")
        wait.until(charted)
        shot("usage")
        print("usage charted")
    finally:
        driver.quit()


if __name__ == "__main__":
    main(*sys.argv[1:6])
