"""Headless Chromium loads Keyway's Swagger UI (`/docs`), waits until the
operations are listed, checks a few known ones, and saves a screenshot.

Run by tests/e2e/browser_docs.rs: `python docs_page.py BASE_URL SCREENSHOT`.
Uses Debian's `chromium` and `chromium-driver` (no browser download):
CHROMIUM and CHROMEDRIVER override their paths.
"""

import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

EXPECTED = ["/v1/chat/completions", "/v1/messages", "/v1/models", "/api/v1/tenants"]


def main(base: str, screenshot: str) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400"]:
        options.add_argument(arg)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(f"{base}/docs/")
        # Swagger UI renders from /openapi.json in the browser: wait for it.
        WebDriverWait(driver, 60).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path"))
        )
        paths = [e.text.replace("\u200b", "") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
        missing = [p for p in EXPECTED if p not in paths]
        assert not missing, f"operations not listed: {missing} (listed: {paths})"
        title = driver.find_element(By.CSS_SELECTOR, ".info .title").text
        assert "Keyway" in title, title
        driver.save_screenshot(screenshot)
        print(f"{len(paths)} operations listed; screenshot saved to {screenshot}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
