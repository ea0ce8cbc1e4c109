"""A user in headless Chromium launches a trading-day partition from the Dagster UI and reads the result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import REPO, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
README_SCREENSHOTS = REPO / "docs" / "screenshots"
# FINRNN_UPDATE_SCREENSHOTS=1 also copies the README's two screenshots into docs/screenshots/.
UPDATE_README = os.environ.get("FINRNN_UPDATE_SCREENSHOTS") == "1"
DAY = "2018-03-01"
UI_ASSETS = ["raw_prices", "price_quarantine", "price_features"]
RUNS_FOR_DAY = """
query($day: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $day}]}) {
    ... on Runs { results { runId status assetSelection { path } } }
  }
}"""
LATEST_METADATA = """
{
  assetNodes(assetKeys: [{path: ["price_features"]}]) {
    latestMaterializationByPartition(partitions: ["2018-03-01"]) {
      metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
  }
}"""


@pytest.fixture
def browser_page(tmp_path):
    """A page in Debian's headless Chromium, driven by the Playwright client (no downloads)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install -y --no-install-recommends chromium); .ci/run does this."
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot(page, name: str, readme: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if readme and UPDATE_README:
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SCREENSHOTS / f"{name}.png")
    return path


def test_a_user_materializes_a_trading_day_from_the_ui_and_sees_its_metadata(
    dagster_dev, browser_page
):
    page = browser_page
    dagster_dev.asset_nodes()
    # price_features on DAY reads ~7 weeks of raw_prices before it: ingest them in one run first.
    lookback = dagster_dev.launch(
        ["raw_prices", "price_quarantine"],
        {
            "dagster/asset_partition_range_start": "2018-01-02",
            "dagster/asset_partition_range_end": "2018-02-28",
        },
    )
    # The community sign-up dialog would cover the page on a fresh DAGSTER_HOME.
    assert dagster_dev.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True

    page.goto(f"{dagster_dev.url}/asset-groups", wait_until="networkidle")
    for group in ("ingest", "features", "models", "predictions", "evaluation"):
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    page.keyboard.press("Alt+KeyE")  # the graph's "Expand all groups"
    for name in ("raw_prices", "price_features", "lstm_checkpoint", "predictions"):
        expect(page.get_by_text(name, exact=True).last).to_be_visible()
    screenshot(page, "asset-graph", readme=True)
    assert dagster_dev.wait_for_run(lookback) == "SUCCESS"

    # Narrow the graph to the ingest and feature assets, then Materialize… one partition.
    page.locator(".CodeMirror").first.click()
    page.keyboard.type(" or ".join(f'key:"{name}"' for name in UI_ASSETS))
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Launch runs to materialize 3 assets").wait_for()
    dialog.get_by_text("Show all partitions").click()
    picker = dialog.get_by_placeholder("ex: 2016-01-04", exact=False)
    picker.fill(DAY)
    picker.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    screenshot(page, "launch-partition")
    dialog.get_by_role("button", name="Launch 1 run").click()

    def launched():
        runs = dagster_dev.graphql(RUNS_FOR_DAY, {"day": DAY})["runsOrError"]["results"]
        return runs or None

    (run,) = wait_for(launched, 30, "the run launched from the UI")
    assert sorted(a["path"][-1] for a in run["assetSelection"]) == sorted(UI_ASSETS)
    status = dagster_dev.wait_for_run(run["runId"])
    if status != "SUCCESS":
        page.goto(f"{dagster_dev.url}/runs/{run['runId']}", wait_until="networkidle")
        screenshot(page, "failed-run")
        pytest.fail(f"run {run['runId']} launched from the UI ended {status}")

    written = dagster_dev.storage_root / "price_features" / f"date={DAY}" / "part-0.parquet"
    assert written.is_file()
    node = dagster_dev.graphql(LATEST_METADATA)["assetNodes"][0]
    entries = node["latestMaterializationByPartition"][0]["metadataEntries"]
    rows = {e["label"]: e.get("intValue") for e in entries}["rows"]
    assert rows == 21  # 20 large caps and the S&P 500 index

    page.goto(f"{dagster_dev.url}/assets/price_features?partition={DAY}", wait_until="networkidle")
    expect(page.get_by_text("ret_20d", exact=True).first).to_be_visible()  # the column schema
    heading = page.get_by_text("Metadata", exact=True).first
    heading.evaluate("element => element.scrollIntoView({block: 'start'})")
    for label in ("rows", "tickers", "feature_columns", "preview", "path"):
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    rows_entry = page.get_by_role("row").filter(has=page.get_by_text("rows", exact=True))
    expect(rows_entry.first).to_contain_text(str(rows))
    expect(page.get_by_role("cell", name="AAPL").first).to_be_visible()  # the preview table
    screenshot(page, "asset-metadata", readme=True)

    # The asset checks that ran with the features, with their results.
    page.get_by_role("tab", name="Checks").click()
    name = page.get_by_text("check_price_features_finite", exact=True).first
    name.wait_for()
    screenshot(page, "asset-checks")
    expect(page.get_by_text("Passed").first).to_be_visible()
    expect(page.get_by_text("rows_not_finite", exact=True).first).to_be_visible()
