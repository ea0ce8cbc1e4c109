"""The real Dagster webserver and daemon serve the definitions and run a launched partition."""

import os
import subprocess

import pytest

from tests.e2e.conftest import BIN, REPO

pytestmark = pytest.mark.e2e


def test_definitions_validate(tmp_path):
    # Its own instance: `make` exports a DAGSTER_HOME that a fresh clone has not created yet.
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "FINRNN_STORAGE_ROOT": str(tmp_path / "data"),
    }
    out = subprocess.run(
        [BIN / "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "All code locations passed validation" in out.stderr + out.stdout


def test_ui_serves_the_asset_graph_and_the_daemon_runs_a_launched_partition(dagster_dev):
    nodes = dagster_dev.asset_nodes()
    by_name = {n["assetKey"]["path"][-1]: n for n in nodes}
    assert {"raw_prices", "price_features", "lstm_checkpoint", "predictions"} <= set(by_name)
    assert all(n["description"] for n in nodes)
    assert by_name["price_features"]["groupName"] == "features"

    run_id = dagster_dev.launch(
        ["raw_prices", "price_quarantine"], {"dagster/partition": "2018-03-01"}
    )
    assert dagster_dev.wait_for_run(run_id) == "SUCCESS"
    written = dagster_dev.storage_root / "raw_prices" / "date=2018-03-01" / "part-0.parquet"
    assert written.is_file()
