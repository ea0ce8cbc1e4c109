"""The README's demo command, as a newcomer runs it (on a short range, to keep CI quick)."""

import json
import os
import subprocess

import pandas as pd
import pyarrow.dataset as ds
import pytest

from finrnn_core.calendar import trading_sessions
from tests.e2e.conftest import BIN, REPO

pytestmark = pytest.mark.e2e


def test_the_demo_runs_the_graph_and_its_prediction_table_reads_back(tmp_path):
    root = tmp_path / "finrnn_data"
    args = ["--start", "2017-10-02", "--end", "2018-03-29", "--epochs", "1"]
    out = demo(tmp_path, *args, root=root)
    assert out.returncode == 0, out.stderr[-4000:]
    summary = out.stdout[out.stdout.index("=== finrnn: 3 runs succeeded") :]
    assert ", after the lookback ingest run " in summary.splitlines()[0]  # 2017-08..09 first
    assert "Rows ingested:" in summary and "0 quarantined" in summary
    for model in ("LSTM", "GRU", "RNN"):
        assert f"\n{model:<8}2018-02-16" in summary  # the Friday 80 % of the way through
    assert f"Prediction table: {root / 'predictions'}" in summary

    # the one-line way to read it, as printed
    table = ds.dataset(root / "predictions", partitioning="hive").to_table().to_pandas()
    dates = pd.to_datetime(table["date"].astype(str))
    sessions = trading_sessions("XNYS", "2018-02-17", "2018-03-29")
    assert sorted(dates.unique()) == list(sessions)  # every out-of-sample trading day
    assert set(table["model"]) == {"lstm", "gru", "rnn"}
    assert table.groupby(["date", "model"])["ticker"].nunique().eq(21).all()  # every ticker
    assert (pd.to_datetime(table["cutoff"]) < dates).all()
    assert json.loads((root / "last_demo.json").read_text())["prediction_rows"] == len(table)
    assert "checkpoints this demo did not train" not in summary

    # Again over the same store with an earlier cut-off: the days after 2018-02-16 are still
    # predicted by the first demo's newer checkpoints, and the summary must say so.
    again = demo(tmp_path, *args, "--cutoff", "2018-01-26", root=root)
    assert again.returncode == 0, again.stderr[-4000:]
    (note,) = [
        line
        for line in again.stdout.splitlines()
        if line.startswith("Note: ") and "did not train" in line
    ]
    assert "(2018-02-20..2018-03-29) come from checkpoints this demo did not train" in note
    assert "lstm@2018-02-16#" in note and "--storage-root DIR" in note


def demo_env(tmp_path) -> dict:
    """A newcomer's environment: an instance of its own, no store or prices preset."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    env.pop("FINRNN_STORAGE_ROOT", None)
    env.pop("FINRNN_PRICE_PATH", None)
    return env


def demo(tmp_path, *args, root=None):
    return subprocess.run(
        [BIN / "finrnn-demo", "--storage-root", str(root or tmp_path / "store"), *args],
        cwd=REPO,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_price_path_that_does_not_exist_is_refused_before_any_run(tmp_path):
    out = demo(tmp_path, "--prices", str(tmp_path / "nowhere"), "--end", "2016-03-31")
    assert out.returncode == 2
    assert f"--prices: Price source '{tmp_path / 'nowhere'}' does not exist" in out.stderr
    assert not (tmp_path / "store").exists()


def test_a_failed_run_ends_with_the_data_error_naming_the_file(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "odd.csv").write_text("when,what\n2016-01-04,1\n")
    out = demo(tmp_path, "--prices", str(folder), "--end", "2016-03-31", "--epochs", "1")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-3:]
    assert last[0].startswith("Run ") and "(features_job) FAILED" in last[0], last
    assert last[1].startswith("  ingest_prices: DataError: "), last
    assert "odd.csv" in last[1] and "'when'" in last[1], last


def test_ctrl_c_during_training_ends_the_demo_without_retrying(tmp_path):
    """Dagster retries an interrupted step that has a retry policy; a user's Ctrl-C must stop."""
    import signal

    args = ["--start", "2017-10-02", "--end", "2018-03-29", "--epochs", "500"]
    proc = subprocess.Popen(
        [BIN / "finrnn-demo", *args, "--storage-root", str(tmp_path / "store")],
        cwd=REPO,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if " epoch 1/500:" in line:
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail("training never logged its first epoch:\n" + "".join(lines[-40:]))
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 1, out[-4000:]
    assert "interrupted by SIGINT; not retried" in out, out[-4000:]
    assert "requested a retry" not in out and "STEP_UP_FOR_RETRY" not in out, out[-4000:]
    assert "not started, the run was interrupted" in out  # the other two models
    assert "(retraining_job) FAILED" in out
    # one model had started; neither it nor the others trained on
    trained = {
        line.split("@")[0].split()[-1]
        for line in out.splitlines()
        if " epoch " in line and "/500:" in line
    }
    assert len(trained) == 1, trained
    assert not [line for line in out.splitlines() if " epoch 3/500:" in line]
