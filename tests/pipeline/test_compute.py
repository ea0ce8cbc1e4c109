import logging
import shutil

import dagster as dg
import pytest

from finrnn_core.training import list_checkpoints
from finrnn_pipeline.resources import ComputeResource
from tests.pipeline.conftest import run_assets, training_config


@pytest.fixture
def features_only(chain_root, tmp_path):
    shutil.copytree(chain_root / "price_features", tmp_path / "price_features")
    return tmp_path


def test_missing_gpu_falls_back_to_cpu_with_a_logged_warning(features_only):
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(
        features_only,
        "2018-03-30",
        "2018-03-30",
        selection=["lstm_checkpoint"],
        run_config={"ops": {"lstm_checkpoint": training_config()["ops"]["lstm_checkpoint"]}},
        instance=instance,
        compute=ComputeResource(device="gpu", device_num=7),
    )
    assert result.success
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "GPU 7 was requested" in e.user_message
    ]
    assert warnings, "no fallback warning in the run's logs"
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["device_used"].value == "/CPU:0"


def test_strict_device_turns_the_fallback_into_a_failure(features_only):
    # a failure that a retry cannot mend: the step fails at once, naming the cause
    with pytest.raises(dg.Failure, match=r"lstm@2018-03-30: DeviceError: GPU 7 was requested"):
        run_assets(
            features_only,
            "2018-03-30",
            "2018-03-30",
            selection=["lstm_checkpoint"],
            run_config={"ops": {"lstm_checkpoint": {"config": {"epochs": 1}}}},
            compute=ComputeResource(device="gpu", device_num=7, strict_device=True),
        )


def test_a_model_pinned_to_a_missing_gpu_falls_back_and_records_how(features_only):
    instance = dg.DagsterInstance.ephemeral()
    config = {**training_config()["ops"]["gru_checkpoint"]["config"], "device_num": 5}
    result = run_assets(
        features_only,
        "2018-03-30",
        "2018-03-30",
        selection=["gru_checkpoint"],
        run_config={"ops": {"gru_checkpoint": {"config": config}}},
        instance=instance,
        compute=ComputeResource(device="gpu", gpu_pool=[0, 1]),
    )
    assert result.success
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("GPU 5 was requested but 0 GPU(s) are on this machine" in m for m in messages)
    assert any(m.startswith("gru@2018-03-30: training on cpu (fallback: GPU 5") for m in messages)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["device_used"].value == "/CPU:0"
    assert meta["device_assignment"].value.startswith("cpu (fallback: GPU 5 was requested")
    [ckpt] = list_checkpoints(features_only / "rnn_checkpoints")
    assert ckpt.device_assignment == meta["device_assignment"].value


@pytest.mark.parametrize(
    ("compute", "message"),
    [
        ({"strategy": "ring"}, r"`strategy` must be one of .* Received: strategy='ring'"),
        # the resource's own field names, not finrnn_core's
        (
            {"gpus_per_step": 0},
            r"compute resource: `gpus_per_step` must be an integer >= 1\. "
            r"Received: gpus_per_step=0",
        ),
    ],
)
def test_a_bad_compute_setting_fails_the_step_naming_the_field(features_only, compute, message):
    with pytest.raises(dg.Failure, match=message):
        run_assets(
            features_only,
            "2018-03-30",
            "2018-03-30",
            selection=["lstm_checkpoint"],
            run_config={"ops": {"lstm_checkpoint": training_config()["ops"]["lstm_checkpoint"]}},
            compute=ComputeResource(**compute),
        )


def test_a_bad_device_num_in_a_spec_fails_on_a_cpu_deployment_too(features_only):
    config = {**training_config()["ops"]["lstm_checkpoint"]["config"], "device_num": -2}
    with pytest.raises(
        dg.Failure,
        match=r"`device_num` must be an integer >= 0\. Received: "
        r"device_num=-2",
    ):
        run_assets(
            features_only,
            "2018-03-30",
            "2018-03-30",
            selection=["lstm_checkpoint"],
            run_config={"ops": {"lstm_checkpoint": {"config": config}}},
        )
