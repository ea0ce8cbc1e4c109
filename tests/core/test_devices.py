"""Device resolution, GPU leases across processes, and the tf.distribute strategies on CPU.

Leasing is exercised with fake GPU ids (`available=`) because it never touches a GPU: it only
decides which id a process may use. Everything that needs a fresh TensorFlow runtime (visible
devices, logical CPUs, multi-worker clusters) runs in its own subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from finrnn_core.devices import ComputeConfig, DevicePlan, detect_gpu_ids, lease_devices
from finrnn_core.distribute import tf_config
from finrnn_core.errors import ConfigError, DeviceError

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "tpu"}, r"`device` must be one of \('cpu', 'gpu'\). Received: device='tpu'"),
        ({"gpu_pool": (0, 0)}, r"`gpu_pool` must hold distinct integers >= 0"),
        ({"gpu_pool": (-1,)}, r"Received: gpu_pool=\[-1\]"),
        ({"strategy": "horovod"}, r"`strategy` must be one of .* Received: strategy='horovod'"),
        ({"memory_limit_mb": 0}, r"`memory_limit_mb` must be an integer > 0 or None"),
        ({"strategy": "multi_worker"}, r"`workers` must list every worker"),
        ({"workers": ("nohost",)}, r"`workers` must be 'host:port' strings"),
        ({"workers": ("a:1", "b:2"), "worker_index": 2}, r"`worker_index` must be in \[0, 1\]"),
        ({"gpu_pool": (0, 1), "gpus_per_replica_group": 3}, r"must be <= len\(gpu_pool\)=2"),
        ({"mixed_precision": "yes"}, r"`mixed_precision` must be True or False"),
    ],
)
def test_compute_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ComputeConfig(**kwargs)


def test_compute_config_round_trips_through_a_dict():
    cfg = ComputeConfig(
        device="GPU",
        gpu_pool=(2, 3),
        memory_limit_mb=4096,
        mixed_precision=True,
        strategy="multi_worker",
        workers=("10.0.0.1:2222", "10.0.0.2:2222"),
        worker_index=1,
    )
    assert cfg.device == "gpu"
    assert json.loads(json.dumps(cfg.to_dict()))["gpu_pool"] == [2, 3]
    assert ComputeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match=r"Unknown ComputeConfig fields: \['gpus'\]"):
        ComputeConfig.from_dict({"gpus": 2})


def test_tf_config_names_the_cluster_and_this_task():
    assert tf_config(["h1:1", "h2:2"], 1) == {
        "cluster": {"worker": ["h1:1", "h2:2"]},
        "task": {"type": "worker", "index": 1},
    }
    with pytest.raises(ConfigError, match=r"Received: worker_index=2"):
        tf_config(["h1:1", "h2:2"], 2)


# ------------------------------------------------------------ resolution


def test_cpu_needs_no_lease(tmp_path):
    with lease_devices(ComputeConfig(device="cpu", lease_dir=str(tmp_path))) as plan:
        assert plan.device == "cpu"
        assert plan.tf_devices == ["/CPU:0"]
    assert list(tmp_path.iterdir()) == []


def test_a_pinned_device_num_takes_exactly_that_gpu(tmp_path):
    cfg = ComputeConfig(device="gpu", gpu_pool=(0, 1, 2), lease_dir=str(tmp_path))
    for _ in range(3):  # whatever the pid offset, the pin wins
        with lease_devices(cfg, pinned=2, available=[0, 1, 2]) as plan:
            assert plan.gpu_ids == [2]
            assert plan.describe() == "gpu 2 (pinned)"
            assert (tmp_path / "gpu-2.lock").read_text().strip() == str(os.getpid())


def test_pooled_leases_in_one_process_get_distinct_ids_and_then_wait(tmp_path):
    cfg = ComputeConfig(device="gpu", gpu_pool=(0, 1), lease_dir=str(tmp_path), lease_timeout_s=0.3)
    with lease_devices(cfg, available=[0, 1]) as first:
        with lease_devices(cfg, available=[0, 1]) as second:
            assert sorted(first.gpu_ids + second.gpu_ids) == [0, 1]
            started = time.monotonic()
            with pytest.raises(DeviceError, match=r"No free GPU among \[0, 1\] after 0.3s"):
                with lease_devices(cfg, available=[0, 1]):
                    pass
            assert time.monotonic() - started >= 0.3
        with lease_devices(cfg, available=[0, 1]) as third:  # the released id is free again
            assert third.gpu_ids == second.gpu_ids


def test_several_gpus_per_process_for_mirrored(tmp_path):
    cfg = ComputeConfig(
        device="gpu",
        gpu_pool=(0, 1, 2, 3),
        gpus_per_replica_group=2,
        strategy="mirrored",
        lease_dir=str(tmp_path),
    )
    with (
        lease_devices(cfg, available=[0, 1, 2, 3]) as a,
        lease_devices(cfg, available=[0, 1, 2, 3]) as b,
    ):
        assert len(a.gpu_ids) == len(b.gpu_ids) == 2
        assert sorted(a.gpu_ids + b.gpu_ids) == [0, 1, 2, 3]
        assert a.tf_devices == [f"/GPU:{i}" for i in a.gpu_ids]  # visibility not applied


def test_without_a_pool_device_num_is_used(tmp_path):
    cfg = ComputeConfig(device="gpu", device_num=1, lease_dir=str(tmp_path))
    with lease_devices(cfg, available=[0, 1]) as plan:
        assert plan.gpu_ids == [1]
        assert plan.describe() == "gpu 1 (pinned)"


def test_missing_gpu_falls_back_to_cpu_with_a_warning(tmp_path, caplog):
    cfg = ComputeConfig(device="gpu", gpu_pool=(0, 1), lease_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="finrnn_core"):
        with lease_devices(cfg, available=[]) as plan:
            assert plan.device == "cpu"
            assert plan.tf_devices == ["/CPU:0"]
    assert "1 GPU(s) from pool [0, 1] was requested but 0 GPU(s) are on this machine" in caplog.text
    assert "falling back to /CPU:0" in caplog.text
    assert plan.describe().startswith("cpu (fallback: ")


def test_strict_mode_raises_instead_of_falling_back(tmp_path):
    cfg = ComputeConfig(device="gpu", strict=True, lease_dir=str(tmp_path))
    with pytest.raises(
        DeviceError, match=r"GPU 3 was requested but 1 GPU\(s\) are on this machine"
    ):
        with lease_devices(cfg, pinned=3, available=[0]):
            pass


def test_gpu_detection_honours_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpu_ids() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert detect_gpu_ids() == []


LEASE_HOLDER = """
    import os, sys, time
    from finrnn_core.devices import ComputeConfig, lease_devices
    lease_dir, out_dir = sys.argv[1], sys.argv[2]
    cfg = ComputeConfig(device="gpu", gpu_pool=(0, 1), lease_dir=lease_dir, lease_timeout_s=30)
    with lease_devices(cfg, available=[0, 1]) as plan:
        open(os.path.join(out_dir, f"{os.getpid()}.id"), "w").write(str(plan.gpu_ids[0]))
        deadline = time.monotonic() + 30
        # hold the lease until the test says so, like a training step that is still running
        while not os.path.exists(os.path.join(out_dir, "release")) and time.monotonic() < deadline:
            time.sleep(0.05)
    print("released", plan.gpu_ids[0])
"""


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def test_two_concurrent_processes_get_distinct_ids_from_a_pool_of_two(tmp_path):
    leases, out = tmp_path / "leases", tmp_path / "out"
    out.mkdir()
    procs = [spawn_python(LEASE_HOLDER, str(leases), str(out)) for _ in range(2)]
    try:
        _wait_for(lambda: len(list(out.glob("*.id"))) == 2)
        ids = sorted(int(p.read_text()) for p in out.glob("*.id"))
        assert ids == [0, 1]
        # a third step finds both GPUs leased and waits, here until its timeout
        third = run_python(
            """
            import sys
            from finrnn_core.devices import ComputeConfig, lease_devices
            from finrnn_core.errors import DeviceError
            cfg = ComputeConfig(device="gpu", gpu_pool=(0, 1), lease_dir=sys.argv[1],
                                lease_timeout_s=0.5)
            try:
                with lease_devices(cfg, available=[0, 1]):
                    print("LEASED")
            except DeviceError as exc:
                print("WAITED:", exc)
            """,
            str(leases),
            timeout=60,
        )
        assert "WAITED: No free GPU among [0, 1]" in third.stdout, third.stderr
    finally:
        (out / "release").touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs


def test_a_killed_process_gives_its_gpu_back(tmp_path):
    leases, out = tmp_path / "leases", tmp_path / "out"
    out.mkdir()
    holder = spawn_python(LEASE_HOLDER, str(leases), str(out))
    try:
        _wait_for(lambda: len(list(out.glob("*.id"))) == 1)
        held = int(next(out.glob("*.id")).read_text())
        cfg = ComputeConfig(
            device="gpu", gpu_pool=(held,), lease_dir=str(leases), lease_timeout_s=0.2
        )
        with pytest.raises(DeviceError):
            with lease_devices(cfg, available=[0, 1]):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        with lease_devices(cfg, available=[0, 1]) as plan:
            assert plan.gpu_ids == [held]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_apply_sets_cuda_visible_devices_before_tensorflow_starts(tmp_path):
    result = run_python(
        """
        import json, os, sys
        from finrnn_core.devices import ComputeConfig, lease_devices
        cfg = ComputeConfig(device="gpu", gpu_pool=(0, 1), lease_dir=sys.argv[1])
        with lease_devices(cfg, pinned=1, available=[0, 1]) as plan:
            plan.apply()
            import tensorflow as tf  # starts after the variable is set
            print(json.dumps({
                "env": os.environ["CUDA_VISIBLE_DEVICES"],
                "tf_devices": plan.tf_devices,
                "device_num": plan.device_num,
                "tf_gpus": len(tf.config.list_physical_devices("GPU")),
            }))
        """,
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # physical GPU 1 is the only one the process sees, as /GPU:0
    assert report["env"] == "1"
    assert report["tf_devices"] == ["/GPU:0"]
    assert report["device_num"] == 0
    assert report["tf_gpus"] == 0  # this machine has no GPU 1


def test_importing_devices_and_distribute_loads_neither_tensorflow_nor_dagster():
    result = run_python(
        """
        import sys
        import finrnn_core.devices, finrnn_core.distribute
        print(sorted(m for m in ("tensorflow", "dagster") if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_plan_without_leased_gpus_lists_logical_cpus_for_mirrored():
    plan = DevicePlan(ComputeConfig(strategy="mirrored", cpu_replicas=3))
    assert plan.tf_devices == ["/CPU:0", "/CPU:1", "/CPU:2"]


# ---------------------------------------------------------- strategies

TRAIN = """
    import json, sys
    import numpy as np
    from finrnn_core.devices import ComputeConfig, lease_devices
    from finrnn_core.distribute import make_strategy

    config = ComputeConfig.from_dict(json.loads(sys.argv[1]))
    out = sys.argv[2]
    with lease_devices(config) as plan:
        plan.apply()
        strategy = make_strategy(plan)
        from finrnn_core.models import GRU, LSTM

        rng = np.random.default_rng(0)
        X = rng.normal(size=(61, 6, 3)).astype("float32")
        y = X[:, -1, :1] + 0.1 * rng.normal(size=(61, 1))
        kwargs = dict(n_input_features=3, n_states=4, n_layers=2, n_time_steps=6, seed=3,
                      keep_prob=1.0, inner_iteration=3, l1_reg=0.001, l2_reg=0.01)
        cls = {"lstm": LSTM, "gru": GRU}[sys.argv[3]]
        model = cls(device="cpu", strategy=strategy, model_dir=out + "/ckpt", **kwargs)
        history = model.train(batch_X=X, batch_y=y, in_sample_size=47, epoch_end=3)
        np.savez(out + "/weights.npz", *model.keras_model.get_weights())
        np.save(out + "/predicted.npy", model.predict(X))
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        print(json.dumps({"replicas": replicas, "device_used": model.device_used,
                          "losses": history["all_losses_per_epoch"]}))
"""


def _train(tmp_path: Path, name: str, config: ComputeConfig, cell: str = "lstm") -> dict:
    out = tmp_path / name
    out.mkdir()
    result = run_python(TRAIN, json.dumps(config.to_dict()), str(out), cell)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["weights"] = list(np.load(out / "weights.npz").values())
    report["predicted"] = np.load(out / "predicted.npy")
    return report


def _max_weight_gap(a: dict, b: dict) -> float:
    return max(
        float(np.max(np.abs(u - v))) for u, v in zip(a["weights"], b["weights"], strict=True)
    )


def test_mirrored_on_two_logical_cpus_matches_a_single_device(tmp_path):
    single = _train(tmp_path, "single", ComputeConfig(device="cpu"))
    mirrored = _train(
        tmp_path, "mirrored", ComputeConfig(device="cpu", strategy="mirrored", cpu_replicas=2)
    )
    assert single["replicas"] == 1
    assert mirrored["replicas"] == 2
    assert mirrored["device_used"].split(",") == [
        "/job:localhost/replica:0/task:0/device:CPU:0",
        "/job:localhost/replica:0/task:0/device:CPU:1",
    ]
    # 47 in-sample rows split 24/23: the summed replica gradients equal the full-batch one
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5)
    assert _max_weight_gap(single, mirrored) < 1e-5
    np.testing.assert_allclose(mirrored["predicted"], single["predicted"], atol=1e-5)
    assert single["weights"][0].std() > 0  # a trained network, not an empty comparison


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_multi_worker_processes_end_with_identical_weights(tmp_path):
    workers = tuple(f"127.0.0.1:{port}" for port in _free_ports(2))
    procs, outs = [], []
    for index in range(2):
        out = tmp_path / f"worker{index}"
        out.mkdir()
        outs.append(out)
        config = ComputeConfig(strategy="multi_worker", workers=workers, worker_index=index)
        procs.append(spawn_python(TRAIN, json.dumps(config.to_dict()), str(out), "gru"))
    try:
        results = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-4000:]
    reports = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in results]
    assert [r["replicas"] for r in reports] == [2, 2]
    assert reports[0]["device_used"] == "/job:worker/replica:0/task:0/device:CPU:0"
    assert reports[1]["device_used"] == "/job:worker/replica:0/task:1/device:CPU:0"
    w0, w1 = (list(np.load(out / "weights.npz").values()) for out in outs)
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_array_equal(a, b)
    # and the two-worker run is the single-device run, within float tolerance
    single = _train(tmp_path, "single", ComputeConfig(device="cpu"), cell="gru")
    assert _max_weight_gap(single, {"weights": w0}) < 1e-5


def test_mixed_precision_trains_in_float16_with_float32_weights_and_output(tmp_path):
    from finrnn_core.models import LSTM, RecurrentModel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5, 2)).astype("float32")
    y = X[:, -1, :1]
    model = LSTM(
        n_input_features=2,
        n_states=4,
        n_layers=1,
        n_time_steps=5,
        seed=1,
        device="cpu",
        mixed_precision=True,
        model_dir=tmp_path,
    )
    history = model.train(batch_X=X, batch_y=y, epoch_end=2)
    layer = model.keras_model.get_layer("lstm_0")
    assert (layer.compute_dtype, layer.variable_dtype) == ("float16", "float32")
    assert model.keras_model.get_layer("output").compute_dtype == "float32"
    assert np.isfinite(history["all_losses_per_epoch"]).all()
    predicted = model.predict(X)
    assert predicted.dtype == np.float32
    again = RecurrentModel.load(tmp_path, "lstm", device="cpu", mixed_precision=True)
    np.testing.assert_allclose(again.predict(X), predicted)
    with pytest.raises(ConfigError, match=r"`mixed_precision` must be True or False"):
        LSTM(device="cpu", mixed_precision="fp16")
