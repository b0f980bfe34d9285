"""The Dagster UI in a real browser (Debian's chromium + chromedriver, Selenium, headless) against `dagster dev`.

The asset catalog lists every asset and group; one partition is materialized by clicking through the launch dialog;
the asset page then shows the materialization's metadata with a plot; the Automation page lists the schedule, the
sensors and the automation conditions. A missing browser is a failure (`make test` installs it).
"""

import shutil
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from assets import ALL_ASSETS
from tests.ui.test_dagster_dev import (
    dagster_dev,  # noqa: F401 - the fixture: dagster dev on a free port, torn down by group
)
from thinkforge import warehouse

GROUPS = {g for a in ALL_ASSETS for g in a.group_names_by_key.values()}


@pytest.fixture
def browser(tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromium-driver are required (make test installs them with apt)"
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,2600"):
        options.add_argument(arg)
    options.binary_location = chromium
    b = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield b
        b.save_screenshot(str(tmp_path / "last.png"))  # kept in pytest's tmp dir for a failing run
    finally:
        b.quit()  # chromedriver and chromium, also when the screenshot fails


def wait_for(browser, condition, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except WebDriverException:
            pass
        time.sleep(1)
    raise AssertionError(
        f"timed out waiting for {what}; page says: {browser.find_element(By.TAG_NAME, 'body').text[:2000]}"
    )


def click(browser, text, tag="button"):
    for element in browser.find_elements(By.XPATH, f"//{tag}[contains(normalize-space(.), '{text}')]"):
        if element.is_displayed() and element.is_enabled():
            element.click()
            return True
    return False


def body(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def test_catalog_launch_metadata_plot_and_automation_in_a_browser(dagster_dev, browser, home):  # noqa: F811
    url = f"http://127.0.0.1:{dagster_dev}"
    browser.get(f"{url}/assets")
    names = [a.key.to_user_string() for a in ALL_ASSETS]
    wait_for(browser, lambda: all(n in body(browser) for n in names), what="every asset in the catalog")
    assert GROUPS <= set(body(browser).split("\n"))

    browser.get(f"{url}/assets/raw_problems")
    wait_for(browser, lambda: "Materialize" in body(browser), what="the asset page")

    def open_launch_dialog():
        click(browser, "Skip")  # the community dialog of a first visit may pop up over the page at any moment
        if "Launch runs to materialize" in body(browser):
            return True
        click(browser, "Materialize")
        time.sleep(2)
        return False

    wait_for(browser, open_launch_dialog, what="the launch dialog")
    wait_for(browser, lambda: click(browser, "All"), what="the All-partitions choice")  # raw_problems is cheap
    wait_for(browser, lambda: click(browser, "Launch"), what="the launch button")
    for domain in ("math", "code", "science", "chat"):
        wait_for(browser, lambda d=domain: warehouse.read_info(home, "raw_problems", d), timeout=300, what=f"{domain}")

    browser.get(f"{url}/assets/raw_problems?partition=chat")
    wait_for(browser, lambda: "rows_by_source" in body(browser), timeout=90, what="materialization metadata")

    def show_chart():  # markdown metadata too large to inline opens from a "[Show Markdown]" link
        links = [
            e for e in browser.find_elements(By.XPATH, "//*[contains(text(), 'Show Markdown')]") if e.is_displayed()
        ]
        if links:
            links[-1].click()
        return bool(links)

    wait_for(browser, show_chart, what="the chart's [Show Markdown] link")
    image = wait_for(
        browser,
        lambda: browser.find_elements(By.XPATH, "//img[starts-with(@src, 'data:image/png;base64')]"),
        what="the chart image",
    )
    assert image[0].size["width"] > 50  # the rows-per-source chart is drawn

    browser.get(f"{url}/automation")
    for item in ("nightly_refresh", "inbox_sensor", "automation_sensor"):
        wait_for(browser, lambda item=item: item in body(browser), what=item)
