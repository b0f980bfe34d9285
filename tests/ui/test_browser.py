"""The Dagster UI in a real browser (Debian's chromium + chromedriver, Selenium, headless) against `dagster dev`.

On a home with raw → verified_responses materialized for math (the tiny model in every role), `make ui`'s dagster
dev (webserver + daemon) serves the graph (GraphQL: every asset; raw_problems partitioned by domain, with checks).
What a person reads: the asset catalog lists every asset and group; a description's placeholder is shown, not
swallowed as HTML; a sample row is shown whole with its `<think>` block; counts are tables, not JSON; `trace_row`
asks only for the warehouse and its log reads as plain text. Then raw_problems is materialized for every partition by
clicking through the launch dialog: the daemon runs the backfill, each partition rewritten by a run that succeeds
under its partition tag;
the asset page shows the materialization's metadata with a plot; the Automation page lists the schedule, the sensors
and the automation conditions. A missing browser is a failure (`make test` installs it).
"""

import shutil
import time

import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

import definitions
from assets import ALL_ASSETS, DATA_GROUPS, assets_in_groups, is_warehouse_asset
from assets.common.metadata import pick_samples
from resources.generation import role_resources
from scripts.cluster import FINISHED
from tests.ui.conftest import LAUNCH, graphql
from thinkforge import DOMAINS, warehouse
from thinkforge.thinking import CLOSE

GROUPS = {g for a in ALL_ASSETS for g in a.group_names_by_key.values()}
FIRST_HALF = [a for a in assets_in_groups(*DATA_GROUPS) if is_warehouse_asset(a)]
ASSETS_QUERY = "{ assetNodes { assetKey { path } isPartitioned partitionKeys groupName hasAssetChecks } }"
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }"


@pytest.fixture
def materialized(home, tiny_model):
    """raw → verified_responses for math, the tiny model in every role, before the UI starts."""
    config = {"ops": {"distilled_responses": {"config": {"samples": 2, "max_tokens": 16}}}}
    with DagsterInstance.get() as instance:
        result = materialize(
            FIRST_HALF,
            partition_key="math",
            instance=instance,
            resources={**definitions.defs.resources, **role_resources(str(tiny_model))},
            run_config=config,
        )
    assert result.success
    return home


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
    deadline, error = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except WebDriverException as exc:
            error = exc
        time.sleep(1)
    raise AssertionError(
        f"timed out waiting for {what} (last error: {str(error).splitlines()[0] if error else None}); page says: "
        f"{browser.find_element(By.TAG_NAME, 'body').text[:2000]}"
    )


def finished(port: int, run_id: str) -> tuple[str, dict] | None:
    """A finished run's status and tags (None while it runs)."""
    run = graphql(port, STATUS, {"id": run_id})["runOrError"]
    done = run["status"] in FINISHED
    return (run["status"], {t["key"]: t["value"] for t in run["tags"]}) if done else None


def click(browser, text, tag="button"):
    for element in browser.find_elements(By.XPATH, f"//{tag}[contains(normalize-space(.), '{text}')]"):
        if element.is_displayed() and element.is_enabled():
            element.click()
            return True
    return False


def body(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def flat(text: str) -> str:
    return " ".join(text.split())


def metadata_row(browser, label: str):
    """The row of the latest materialization's metadata table labelled `label`."""
    return browser.find_element(By.XPATH, f"//tr[.//span[text()='{label}']]")


def open_markdown(browser, label: str) -> str:
    """Open a markdown entry too large to inline ("[Show Markdown]") and return the dialog's text."""
    click(browser, "Skip")  # the community dialog of a first visit may pop up over the page at any moment
    link = metadata_row(browser, label).find_element(By.XPATH, ".//a[contains(., 'Show Markdown')]")
    # a click in the page: Dagster's metadata table lays a neighbouring cell over the link at some widths
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", link)
    dialog = wait_for(browser, lambda: browser.find_elements(By.XPATH, "//*[@role='dialog']"), what=f"{label} dialog")
    text = wait_for(browser, lambda: dialog[-1].text if label in dialog[-1].text else "", what=f"{label} text")
    click(browser, "Close")
    return text


def check_what_a_researcher_reads(browser, url: str, home, port: int) -> None:
    # a placeholder in a description is shown (it used to vanish as an HTML tag: models/sft_model//)
    browser.get(f"{url}/assets/sft_model")
    wait_for(browser, lambda: "$THINKFORGE_HOME/models/sft_model/<domain>/" in body(browser), what="the placeholder")
    assert "models/sft_model//" not in body(browser)

    # a sample row whole, its <think> block as written; counts as a table with a header, not a JSON blob
    distilled = warehouse.read_partition(home, "distilled_responses", "math")
    first = pick_samples(distilled, first=pl.col("response").str.contains(CLOSE, literal=True))["response"][0]
    assert first.startswith("<think>") and len(first) > 80  # the source's response in the thinking format
    browser.get(f"{url}/assets/distilled_responses?partition=math")
    wait_for(browser, lambda: "sample_rows" in body(browser), what="the sample rows")
    samples = wait_for(browser, lambda: open_markdown(browser, "sample_rows"), what="the samples")
    assert flat(first) in flat(samples) and "sample 1 of" in samples
    origins = metadata_row(browser, "origins").find_element(By.TAG_NAME, "table").text
    assert "origin" in origins and "teacher" in origins and "{" not in origins

    browser.get(f"{url}/assets/raw_problems?partition=math")
    wait_for(browser, lambda: "rows_by_source" in body(browser), what="raw_problems metadata")
    by_source = metadata_row(browser, "rows_by_source").find_element(By.TAG_NAME, "table").text
    raw = warehouse.read_partition(home, "raw_problems", "math")
    assert all(source in by_source for source in set(raw["source"])) and "{" not in by_source

    # trace_row: the launchpad offers only the warehouse; the run's log reads as plain text
    browser.get(f"{url}/locations/thinkforge/jobs/trace_row/playground")
    wait_for(browser, lambda: "warehouse_store" in body(browser), what="the launchpad")
    assert "teacher" not in body(browser) and "warehouse_io" not in body(browser)
    row_id = distilled.filter(pl.col("response") == first)["id"][0]
    params = {
        "selector": {
            "repositoryLocationName": "thinkforge",
            "repositoryName": "__repository__",
            "jobName": "trace_row",
        },
        "runConfigData": {"ops": {"trace_lineage": {"config": {"row_id": row_id}}}},
    }
    launched = graphql(port, LAUNCH, {"p": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    browser.get(f"{url}/runs/{launched['run']['runId']}")
    wait_for(browser, lambda: f"Lineage of row {row_id}" in body(browser), timeout=240, what="the trace in the log")
    log = body(browser)
    assert "<think>" in log and "&lt;" not in log and "&gt;" not in log and "&amp;" not in log


@pytest.mark.heavy(130)
def test_catalog_launch_metadata_plot_and_automation_in_a_browser(materialized, dagster_dev, browser, home):
    url = f"http://127.0.0.1:{dagster_dev}"
    deadline = time.monotonic() + 60
    while not (nodes := graphql(dagster_dev, ASSETS_QUERY)["assetNodes"]):  # code location still loading
        assert time.monotonic() < deadline
        time.sleep(1)
    assert {tuple(n["assetKey"]["path"]) for n in nodes} == {tuple(a.key.path) for a in ALL_ASSETS}
    raw = next(n for n in nodes if n["assetKey"]["path"] == ["raw_problems"])
    assert raw["isPartitioned"] and raw["partitionKeys"] == list(DOMAINS) and raw["hasAssetChecks"]
    browser.get(f"{url}/assets")
    names = [a.key.to_user_string() for a in ALL_ASSETS]
    wait_for(browser, lambda: all(n in body(browser) for n in names), what="every asset in the catalog")
    assert GROUPS <= set(body(browser).split("\n"))
    check_what_a_researcher_reads(browser, url, home, dagster_dev)

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
    before = {d: (warehouse.read_info(home, "raw_problems", d) or {}).get("run_id") for d in DOMAINS}  # math's
    wait_for(browser, lambda: click(browser, "All"), what="the All-partitions choice")  # raw_problems is cheap
    wait_for(browser, lambda: click(browser, "Launch"), what="the launch button")
    for domain in DOMAINS:  # the daemon runs the backfill: one run per partition, each written by its own run

        def written(d=domain):
            info = warehouse.read_info(home, "raw_problems", d)
            return info if info and info["run_id"] != before[d] else None

        info = wait_for(browser, written, timeout=300, what=f"{domain} by a new run")
        run_id = info["run_id"]
        status, tags = wait_for(browser, lambda r=run_id: finished(dagster_dev, r), timeout=120, what=f"run {run_id}")
        assert status == "SUCCESS" and tags["dagster/partition"] == domain, (status, tags)

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
