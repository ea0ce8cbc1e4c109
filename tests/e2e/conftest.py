"""The real `dagster dev` (webserver + daemon) on 127.0.0.1, and how tests talk to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")

LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    """Call `predicate` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class DagsterDev:
    """A running `dagster dev`: its port, DAGSTER_HOME, storage root and log file."""

    port: int
    home: Path
    storage_root: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload
        return payload["data"]

    def asset_nodes(self) -> list[dict]:
        """Every asset node, once the code location has loaded (waits up to 120 s)."""

        def loaded():
            query = "{ assetNodes { assetKey { path } description groupName } }"
            return self.graphql(query)["assetNodes"] or None

        return wait_for(loaded, 120, "the code location to load")

    def launch(self, assets: list[str], tags: dict[str, str], run_config: dict | None = None):
        """Launch one run of `assets` through GraphQL, as the UI does; returns the run id."""
        params = {
            "selector": {
                "repositoryLocationName": "finrnn",
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [name]} for name in assets],
            },
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            "runConfigData": run_config or {},
        }
        launched = self.graphql(LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        return self.graphql(RUN_STATUS, {"id": run_id})["runOrError"]["status"]

    def wait_for_run(self, run_id: str, timeout: float = 240) -> str:
        """The run's final status (SUCCESS, FAILURE or CANCELED)."""

        def finished():
            status = self.run_status(run_id)
            return status if status in TERMINAL else None

        return wait_for(finished, timeout, f"run {run_id}")


@pytest.fixture
def dagster_dev(tmp_path):
    """`dagster dev` with a temporary DAGSTER_HOME and storage root; stopped with SIGINT after."""
    port = free_port()
    home, store = tmp_path / "dagster_home", tmp_path / "store"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "FINRNN_STORAGE_ROOT": str(store)}
    log_path = tmp_path / "dagster_dev.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [BIN / "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A shell's background job inherits SIGINT as ignored; give dagster dev its default back
        # so the SIGINT below stops it and all its children.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                return r.status == 200
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"dagster dev exited:\n{log_path.read_text()[-3000:]}")
            return False

    try:
        wait_for(up, 180, "the Dagster webserver")
        yield DagsterDev(port=port, home=home, storage_root=store, log_path=log_path)
    finally:
        # SIGINT to the whole process group: dagster dev stops its webserver, daemon and
        # code server itself; SIGKILL only if that does not finish in time.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
            clean = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            clean = False
        log.close()
    assert clean, f"dagster dev ignored SIGINT for 60 s and was killed; see {log_path}"
    wait_for(lambda: not _group_alive(proc.pid), 30, "dagster dev's child processes to exit")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
