"""Walk-forward retraining: each cut-off warm-starts from the one before, and a training step
that dies resumes after its last completed epoch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import dagster as dg
import numpy as np
import pytest

from finrnn_core.training import list_checkpoints
from tests.conftest import REPO
from tests.pipeline.conftest import run_assets, training_config


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
from tests.pipeline.conftest import run_assets, training_config
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
    done = sorted(
        int(p.name.split("_")[2].split(".")[0]) for p in partial.glob("gru_epoch_*.index")
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
