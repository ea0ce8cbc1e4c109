"""The real Dagster webserver and daemon serve the definitions and run a launched partition."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload
    return payload["data"]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def test_definitions_validate():
    out = subprocess.run(
        [BIN / "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "All code locations passed validation" in out.stderr + out.stdout


@pytest.fixture
def dagster_dev(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "FINRNN_STORAGE_ROOT": str(tmp_path / "store"),
    }
    (tmp_path / "dagster_home").mkdir()
    log = (tmp_path / "dagster_dev.log").open("w")
    proc = subprocess.Popen(
        [BIN / "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                return r.status == 200
        except OSError:
            return proc.poll() is not None and pytest.fail(
                (tmp_path / "dagster_dev.log").read_text()[-3000:]
            )

    try:
        wait_for(up, 180, "the Dagster webserver")
        yield port, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert proc.returncode is not None


def test_ui_serves_the_asset_graph_and_the_daemon_runs_a_launched_partition(dagster_dev):
    port, tmp_path = dagster_dev

    def assets():
        data = graphql(port, "{ assetNodes { assetKey { path } description groupName } }")
        return data["assetNodes"] or None

    nodes = wait_for(assets, 120, "the code location to load")
    by_name = {n["assetKey"]["path"][-1]: n for n in nodes}
    assert {"raw_prices", "price_features", "lstm_checkpoint", "predictions"} <= set(by_name)
    assert all(n["description"] for n in nodes)
    assert by_name["price_features"]["groupName"] == "features"

    params = {
        "selector": {
            "repositoryLocationName": "finrnn",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["raw_prices"]}, {"path": ["price_quarantine"]}],
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2018-03-01"}]},
        "runConfigData": {},
    }
    launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = graphql(
            port,
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
            {"id": run_id},
        )["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    assert wait_for(finished, 240, f"run {run_id}") == "SUCCESS"
    written = tmp_path / "store" / "raw_prices" / "date=2018-03-01" / "part-0.parquet"
    assert written.is_file()
