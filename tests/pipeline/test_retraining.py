"""Walk-forward retraining: each cut-off warm-starts from the one before, and a training step
that dies resumes after its last completed epoch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from finrnn_core.storage import read_table
from finrnn_core.training import TrainingSpec, list_checkpoints, train_checkpoint
from tests.conftest import REPO
from tests.pipeline.conftest import TINY_TRAINING, run_assets, training_config


@pytest.fixture
def store(chain_root, tmp_path):
    """Features through 2018-04-30 and tiny checkpoints at the 2018-03-30 cut-off."""
    shutil.copytree(chain_root / "price_features", tmp_path / "price_features")
    shutil.copytree(chain_root / "rnn_checkpoints", tmp_path / "rnn_checkpoints")
    return tmp_path


def gru_runs(root, start, end, **config):
    run_config = {"ops": {"gru_checkpoint": training_config(**config)["ops"]["gru_checkpoint"]}}
    return run_assets(root, start, end, ["gru_checkpoint"], run_config=run_config)


def test_a_range_of_cutoffs_trains_once_per_cutoff_each_warm_from_the_one_before(store):
    result = gru_runs(store, "2018-04-06", "2018-04-13", epochs=2)
    assert result.success
    gru = {c.cutoff: c for c in list_checkpoints(store / "rnn_checkpoints") if c.model_id == "gru"}
    assert sorted(gru) == ["2018-03-30", "2018-04-06", "2018-04-13"]
    # The chain's 2018-03-30 model trained 1 epoch; each later cut-off continues its count.
    assert gru["2018-04-06"].warm_start_from == gru["2018-03-30"].version
    assert gru["2018-04-06"].epochs == [2, 3]
    assert gru["2018-04-13"].warm_start_from == gru["2018-04-06"].version
    assert gru["2018-04-13"].epochs == [4, 5]
    # Each is trained on what its own cut-off allows, and says so.
    assert gru["2018-04-13"].train_start == gru["2018-04-06"].train_start
    assert gru["2018-04-13"].n_in_sample > gru["2018-04-06"].n_in_sample
    for c in gru.values():
        assert c.scaling.fit_end <= c.cutoff
    meta = result.get_asset_materialization_events()[-1].materialization.metadata
    assert meta["warm_start_from"].value == gru["2018-04-06"].version
    assert [row["cutoff"] for row in meta["cutoffs_trained"].value] == ["2018-04-06", "2018-04-13"]
    assert meta["train_window"].value == f"{gru['2018-04-13'].train_start}..2018-04-13"


def test_warm_start_off_or_another_architecture_trains_from_scratch(store):
    assert gru_runs(store, "2018-04-06", "2018-04-06", epochs=2, warm_start=False).success
    scratch = [c for c in list_checkpoints(store / "rnn_checkpoints") if c.cutoff == "2018-04-06"]
    assert scratch[0].warm_start_from == "" and scratch[0].epochs == [1, 2]

    assert gru_runs(store, "2018-04-13", "2018-04-13", n_states=6).success
    wider = [c for c in list_checkpoints(store / "rnn_checkpoints") if c.cutoff == "2018-04-13"]
    assert wider[0].warm_start_from == "" and wider[0].spec["n_states"] == 6


KILLABLE_RUN = """
import sys
from tests.pipeline.conftest import TINY_TRAINING, run_assets, training_config
config = training_config(epochs=40)["ops"]["gru_checkpoint"]
run_assets(sys.argv[1], "2018-04-06", "2018-04-06", ["gru_checkpoint"],
           run_config={"ops": {"gru_checkpoint": config}})
"""


def test_a_killed_training_step_resumes_after_its_last_completed_epoch(store):
    partial = store / "rnn_checkpoints" / "gru" / ".cutoff=2018-04-06.partial"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_RUN, str(store)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(partial.glob("gru_epoch_4.ckpt.index")):  # epochs 2..4 done (warm from 1)
            assert child.poll() is None, "the training process ended before it was killed"
            assert time.monotonic() < deadline, "no third epoch within 120 s"
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # An epoch is complete when its checkpoint and its metrics line are both on disk: the kill
    # may land between the two (the newest checkpoint then has no line and is trained again).
    recorded = set()
    for text in (partial / "epochs.jsonl").read_text().splitlines():
        try:
            recorded.add(int(json.loads(text)["epoch"]))
        except ValueError:
            pass  # a line cut short by the kill
    done = sorted(
        epoch
        for epoch in (
            int(p.name.split("_")[2].split(".")[0]) for p in partial.glob("gru_epoch_*.index")
        )
        if epoch in recorded
    )
    assert done[0] == 2 and done[-1] < 41, done
    assert not (store / "rnn_checkpoints" / "gru" / "cutoff=2018-04-06").exists()

    instance = dg.DagsterInstance.ephemeral()
    config = training_config(epochs=40)["ops"]["gru_checkpoint"]
    result = run_assets(
        store,
        "2018-04-06",
        "2018-04-06",
        ["gru_checkpoint"],
        run_config={"ops": {"gru_checkpoint": config}},
        instance=instance,
    )
    assert result.success
    [ckpt] = [c for c in list_checkpoints(store / "rnn_checkpoints") if c.cutoff == "2018-04-06"]
    assert ckpt.resumed_after_epoch == done[-1]
    # The history is whole: the killed attempt's epochs and this attempt's, 2..41.
    assert ckpt.epochs == list(range(2, 42))
    assert np.isfinite(ckpt.loss_per_epoch).all()
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["resumed_after_epoch"].value == done[-1]
    assert meta["attempt"].value == 1
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if "resumed" in e.user_message
    ]
    assert warnings and f"resumed after epoch {done[-1]}" in warnings[0]
    assert not partial.exists()
    assert (
        json.loads(
            (store / "rnn_checkpoints" / "gru" / "cutoff=2018-04-06" / "training.json").read_text()
        )["resumed_after_epoch"]
        == done[-1]
    )


def real_retraining_job() -> dg.JobDefinition:
    from finrnn_pipeline.definitions import defs

    return defs.resolve_job_def("retraining_job")


def _step_processes() -> list[int]:
    """Pids of this process's multiprocess-executor step children (not the resource tracker)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"spawn_main" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def test_dagsters_retry_policy_reruns_a_killed_training_step_and_it_resumes(store, monkeypatch):
    monkeypatch.setenv("FINRNN_STORAGE_ROOT", str(store))
    monkeypatch.delenv("FINRNN_EXECUTOR", raising=False)
    partial = store / "rnn_checkpoints" / "gru" / ".cutoff=2018-04-06.partial"
    killed: list[int] = []

    def kill_the_step_after_epoch_4() -> None:  # as the OOM killer or a pre-emption would
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if list(partial.glob("gru_epoch_4.ckpt.index")):
                for pid in _step_processes():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_step_after_epoch_4)
    killer.start()
    config = training_config(epochs=40)["ops"]["gru_checkpoint"]
    (store / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(store / "home")) as instance:
        result = dg.execute_job(
            dg.reconstructable(real_retraining_job),
            instance=instance,
            run_config={"ops": {"gru_checkpoint": config}},
            tags={"dagster/partition": "2018-04-06"},
            asset_selection=[dg.AssetKey("gru_checkpoint")],
        )
        killer.join()
        assert killed, "the training step was never seen running"
        assert result.success
        events = [e.event_type_value for e in result.all_events if e.step_key == "gru_checkpoint"]
        assert "STEP_UP_FOR_RETRY" in events and "STEP_RESTARTED" in events
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    [ckpt] = [c for c in list_checkpoints(store / "rnn_checkpoints") if c.cutoff == "2018-04-06"]
    # killed once epoch 4's checkpoint existed: its metrics line may not have been written yet
    assert ckpt.resumed_after_epoch in (3, 4)
    assert ckpt.epochs == list(range(2, 42))  # warm from epoch 1; no hole, nothing twice
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["attempt"].value == 2
    assert meta["resumed_after_epoch"].value == ckpt.resumed_after_epoch
    assert any(f"resumed after epoch {ckpt.resumed_after_epoch}" in m for m in messages)
    assert any("(this is attempt 2)" in m for m in messages)


class _Stop(Exception):
    pass


def test_a_kill_between_an_epochs_checkpoint_and_its_metrics_line_resumes_before_it(store):
    features = read_table(store / "price_features")
    tiny = {k: v for k, v in TINY_TRAINING.items() if k != "epochs"}
    spec = TrainingSpec(cell_type="rnn", epochs=5, **tiny)

    def stop_after_epoch_3(epoch, metrics):
        if epoch == 3:
            raise _Stop

    with pytest.raises(_Stop):
        train_checkpoint(
            features, spec, "2018-04-06", store / "scratch", callback=stop_after_epoch_3
        )
    work = store / "scratch" / "rnn" / ".cutoff=2018-04-06.partial"
    lines = (work / "epochs.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert (work / "rnn_epoch_3.ckpt.index").exists()
    # as if the process died after epoch 3's checkpoint but before its metrics line
    (work / "epochs.jsonl").write_text("\n".join(lines[:2]) + "\n")
    ckpt = train_checkpoint(features, spec, "2018-04-06", store / "scratch")
    assert ckpt.resumed_after_epoch == 2
    assert ckpt.epochs == [1, 2, 3, 4, 5]
    assert np.isfinite(ckpt.loss_per_epoch).all()
