"""Training steps under real Dagster executors: GPU leases per step process, the `gpu` concurrency
pool, and the Dask executor against a local `dask.distributed` cluster.

The steps here are small assets defined in this module (they lease through `ComputeResource` and
train a tiny finrnn_core model) so the executors' behaviour is observable: each step writes what it
got and when to a folder the test reads back. GPU ids are fake (`available=[0, 1]`): leasing only
decides which id a process may use and never touches a GPU.
"""

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from finrnn_core.storage import read_table
from finrnn_core.training import list_checkpoints
from finrnn_pipeline.executors import EXECUTOR_ENV, executor_from_env
from finrnn_pipeline.resources import ComputeResource
from tests.conftest import REPO
from tests.pipeline.conftest import run_assets, training_config

RECORD_ENV = "FINRNN_TEST_RECORD_DIR"
FAKE_GPUS = [0, 1]


class RecordResource(dg.ConfigurableResource):
    """Where the test steps write down their device, process and timing."""

    folder: str

    def write(self, name: str, values: dict) -> None:
        path = Path(self.folder) / f"{name}.json"
        path.write_text(json.dumps(values))


def _step(name: str, hold_s: float, train: bool, pool: str | None) -> dg.AssetsDefinition:
    @dg.asset(name=name, pool=pool)
    def _asset(
        context: dg.AssetExecutionContext, compute: ComputeResource, record: RecordResource
    ) -> dg.MaterializeResult:
        entered = time.time()  # the step's process is running; a lease may still be waited for
        with compute.lease(available=FAKE_GPUS) as plan:
            started = time.time()
            worker = ""
            try:
                from distributed import get_worker

                worker = get_worker().address
            except (ImportError, ValueError):
                pass
            if train:
                import numpy as np

                from finrnn_core.models import LSTM

                rng = np.random.default_rng(0)
                X = rng.normal(size=(20, 4, 2)).astype("float32")
                model = LSTM(
                    n_input_features=2,
                    n_states=3,
                    n_layers=1,
                    n_time_steps=4,
                    seed=1,
                    device="cpu",
                    inner_iteration=1,
                    model_dir=Path(record.folder) / f"{name}_model",
                )
                loss = model.train(batch_X=X, batch_y=X[:, -1, :1], epoch_end=1)[
                    "all_losses_per_epoch"
                ][-1]
            else:
                loss = float("nan")
            time.sleep(hold_s)
            record.write(
                name,
                {
                    "pid": os.getpid(),
                    "gpu_ids": plan.gpu_ids,
                    "device": plan.describe(),
                    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                    "entered": entered,
                    "start": started,
                    "end": time.time(),
                    "worker": worker,
                    "loss": loss,
                },
            )
            context.log.info(f"{name} trained on {plan.describe()}")
            return dg.MaterializeResult(metadata={"device": plan.describe()})

    return _asset


def _resources() -> dict:
    return {
        "compute": ComputeResource(
            device="gpu",
            gpu_pool=FAKE_GPUS,
            lease_dir=os.path.join(os.environ[RECORD_ENV], "leases"),
        ),
        "record": RecordResource(folder=os.environ[RECORD_ENV]),
    }


def pooled_job() -> dg.JobDefinition:
    """Three training steps in one run, each in its own process (multiprocess executor)."""
    assets = [_step(f"train_{c}", hold_s=2.0, train=False, pool="gpu") for c in "abc"]
    return dg.Definitions(
        assets=assets,
        jobs=[dg.define_asset_job("pooled_job", selection=dg.AssetSelection.all())],
        resources=_resources(),
        executor=executor_from_env(),
    ).resolve_job_def("pooled_job")


def dask_job() -> dg.JobDefinition:
    """Two tiny trainings on a Dask cluster, then a step that needs both.

    No `pool` here: dagster-dask 0.29.27 fails to submit a run whose steps carry a pool (the
    run's op-concurrency record cannot be iterated by `distributed`); on Dask the workers'
    thread count bounds concurrency instead.
    """
    trains = [_step(f"train_{c}", hold_s=0.0, train=True, pool=None) for c in "ab"]

    @dg.asset(deps=trains)
    def summary(record: RecordResource) -> None:
        record.write("summary", {"pid": os.getpid()})

    return dg.Definitions(
        assets=[*trains, summary],
        jobs=[dg.define_asset_job("dask_job", selection=dg.AssetSelection.all())],
        resources=_resources(),
        executor=executor_from_env(),
    ).resolve_job_def("dask_job")


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return home


def _records(folder: Path, names) -> dict[str, dict]:
    return {n: json.loads((folder / f"{n}.json").read_text()) for n in names}


def test_executor_from_env_names_the_choices():
    assert executor_from_env({}) is dg.multiprocess_executor
    with pytest.raises(dg.DagsterInvariantViolationError, match="FINRNN_DASK_ADDRESS"):
        executor_from_env({EXECUTOR_ENV: "dask"})
    with pytest.raises(dg.DagsterInvariantViolationError, match=r"Received: FINRNN_EXECUTOR='ray'"):
        executor_from_env({EXECUTOR_ENV: "ray"})
    dask = executor_from_env({EXECUTOR_ENV: "dask", "FINRNN_DASK_ADDRESS": "tcp://h:8786"})
    assert dask.name == "dask"


def test_concurrent_steps_lease_distinct_gpus_and_the_gpu_pool_queues_the_third(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(RECORD_ENV, str(tmp_path))
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    with dg.instance_for_test(
        temp_dir=str(_home(tmp_path)),
        overrides={"concurrency": {"pools": {"default_limit": 2}}},
    ) as instance:
        result = dg.execute_job(
            dg.reconstructable(pooled_job),
            instance=instance,
            run_config={"execution": {"config": {"max_concurrent": 3}}},
        )
        assert result.success
    records = _records(tmp_path, ["train_a", "train_b", "train_c"])
    assert len({r["pid"] for r in records.values()}) == 3  # one process per step
    assert all(r["pid"] != os.getpid() for r in records.values())
    for r in records.values():
        assert len(r["gpu_ids"]) == 1
        # the leased GPU was made the only visible one before TensorFlow could start
        assert r["cuda_visible_devices"] == str(r["gpu_ids"][0])
    # at every moment at most two steps hold GPUs, and those two hold different ids
    spans = sorted(records.values(), key=lambda r: r["start"])
    overlapping = [
        (a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if b["start"] < a["end"]
    ]
    assert overlapping, "the first two steps should have run at the same time"
    for a, b in overlapping:
        assert a["gpu_ids"] != b["gpu_ids"]
    # the third step's process was not even started until a slot of the 'gpu' pool came free:
    # Dagster queued it (the lease alone would have let it start and wait inside the step)
    assert spans[2]["entered"] >= min(spans[0]["end"], spans[1]["end"]) - 0.05


def test_dask_executor_runs_training_steps_on_a_local_dask_cluster(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    monkeypatch.setenv(RECORD_ENV, str(tmp_path))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        worker_pids = set(client.run(os.getpid).values())
        worker_addresses = set(client.run(os.getpid))
        monkeypatch.setenv(EXECUTOR_ENV, "dask")
        monkeypatch.setenv("FINRNN_DASK_ADDRESS", cluster.scheduler_address)
        with dg.instance_for_test(temp_dir=str(_home(tmp_path))) as instance:
            result = dg.execute_job(dg.reconstructable(dask_job), instance=instance)
            assert result.success
            materialized = {
                e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
            }
    assert materialized == {"train_a", "train_b", "summary"}
    records = _records(tmp_path, ["train_a", "train_b", "summary"])
    assert {records[n]["pid"] for n in records} <= worker_pids
    for name in ("train_a", "train_b"):
        assert records[name]["worker"] in worker_addresses
        assert records[name]["loss"] > 0
    assert records["summary"]["pid"] in worker_pids


def real_retraining_job() -> dg.JobDefinition:
    """The pipeline's own retraining job, as `dagster dev` loads it (multiprocess executor)."""
    from finrnn_pipeline.definitions import defs

    return defs.resolve_job_def("retraining_job")


def test_the_pipelines_training_steps_run_in_their_own_processes_under_the_configured_strategy(
    chain_root, tmp_path, monkeypatch
):
    shutil.copytree(chain_root / "price_features", tmp_path / "price_features")
    monkeypatch.setenv("FINRNN_STORAGE_ROOT", str(tmp_path))
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    compute = {"device": "cpu", "strategy": "mirrored", "cpu_replicas": 2}
    with dg.instance_for_test(temp_dir=str(_home(tmp_path))) as instance:
        result = dg.execute_job(
            dg.reconstructable(real_retraining_job),
            instance=instance,
            run_config={**training_config(), "resources": {"compute": {"config": compute}}},
            tags={"dagster/partition": "2018-03-30"},
        )
        assert result.success
        step_pids = {
            e.step_key: e.pid
            for e in result.all_events
            if e.event_type_value == "STEP_START" and e.step_key.endswith("_checkpoint")
        }
    assert set(step_pids) == {"lstm_checkpoint", "gru_checkpoint", "rnn_checkpoint"}
    assert len(set(step_pids.values())) == 3 and os.getpid() not in step_pids.values()
    logical_cpus = [
        "/job:localhost/replica:0/task:0/device:CPU:0",
        "/job:localhost/replica:0/task:0/device:CPU:1",
    ]
    for event in result.get_asset_materialization_events():
        meta = event.materialization.metadata
        # the host was split into two logical CPUs before TensorFlow started in the step
        assert meta["device_used"].value.split(",") == logical_cpus
        assert meta["device_assignment"].value == "cpu"
    for ckpt in list_checkpoints(tmp_path / "rnn_checkpoints"):
        assert ckpt.device_used.split(",") == logical_cpus
    # a checkpoint trained under the strategy predicts the next trading day on one device
    predicted = run_assets(tmp_path, "2018-04-02", "2018-04-02", ["predictions"])
    assert predicted.success
    table = read_table(tmp_path / "predictions")
    assert set(table["model"]) == {"lstm", "gru", "rnn"}
    assert table["predicted"].notna().all()


def test_the_shipped_kubernetes_run_config_is_valid_for_the_k8s_executor():
    from finrnn_pipeline.definitions import ALL_ASSETS, build_resources
    from finrnn_pipeline.schedules import retraining_job

    job = dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[retraining_job],
        resources=build_resources(),
        executor=executor_from_env({EXECUTOR_ENV: "k8s"}),
    ).resolve_job_def("retraining_job")
    assert job.executor_def.name == "k8s"
    config = yaml.safe_load((REPO / "deploy" / "k8s" / "run_config_gpu.yaml").read_text())
    dg.validate_run_config(job, config)  # raises on any field the executor or resources lack
    per_step = config["execution"]["config"]["per_step_k8s_config"]
    assert set(per_step) == {"lstm_checkpoint", "gru_checkpoint", "rnn_checkpoint"}
    for step in per_step.values():
        assert step["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    config["execution"]["config"]["job_namespaces"] = "typo"
    with pytest.raises(dg.DagsterInvalidConfigError, match="job_namespaces"):
        dg.validate_run_config(job, config)
    values = yaml.safe_load((REPO / "deploy" / "k8s" / "values-gpu.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert {"name": "FINRNN_EXECUTOR", "value": "k8s"} in deployment["env"]
