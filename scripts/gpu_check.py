"""Checks training on NVIDIA GPUs: LSTM / GRU / RNN on GPU 0, the fused cuDNN path, two
instances at once on two GPUs, and throughput against the CPU.

    python scripts/gpu_check.py [--samples 4096] [--epochs 3]

Every measurement runs in its own process, which leases its GPU (finrnn_core.devices) and sets
CUDA_VISIBLE_DEVICES before TensorFlow starts, exactly like a pipeline training step. On a
machine without an NVIDIA GPU it says so and exits 0 after a CPU-only baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from finrnn_core.devices import ComputeConfig, detect_gpu_ids, lease_devices  # noqa: E402

SIZES = {"n_input_features": 5, "n_states": 64, "n_layers": 2, "n_time_steps": 60}


def worker(cell: str, device: str, pool: list[int], samples: int, epochs: int, lease_dir: str):
    """One training run in this process; prints a JSON line."""
    config = ComputeConfig(device=device, gpu_pool=tuple(pool), lease_dir=lease_dir, strict=True)
    with lease_devices(config) as plan:
        plan.apply()
        import numpy as np

        from finrnn_core.models import GRU, LSTM, RNN

        rng = np.random.default_rng(0)
        X = rng.normal(size=(samples, SIZES["n_time_steps"], SIZES["n_input_features"]))
        y = X[:, -1, :1] + 0.1 * rng.normal(size=(samples, 1))
        cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[cell]
        model = cls(
            device=plan.device,
            device_num=plan.device_num,
            seed=1,
            inner_iteration=5,
            model_dir=tempfile.mkdtemp(),
            **SIZES,
        )
        model.train(batch_X=X.astype("float32"), batch_y=y, epoch_end=1)  # trace + warm up
        started = time.perf_counter()
        model.train(batch_X=X.astype("float32"), batch_y=y, epoch_end=1 + epochs)
        seconds = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "cell": cell,
                    "device": plan.describe(),
                    "device_used": model.device_used,
                    "fused_gpu_kernel": model.fused_gpu_kernel,
                    "samples_per_s": samples * 5 * epochs / seconds,
                    "start": time.time() - seconds,
                    "end": time.time(),
                }
            ),
            flush=True,
        )


def spawn(cell: str, device: str, pool: list[int], args, lease_dir: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            cell,
            device,
            ",".join(map(str, pool)),
            "--samples",
            str(args.samples),
            "--epochs",
            str(args.epochs),
            "--lease-dir",
            lease_dir,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def collect(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"worker failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Exit status: 0 when every check passed (or no GPU is present), 1 otherwise.",
    )
    parser.add_argument(
        "--samples", type=int, default=4096, help="training windows per run (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="timed epochs after one warm-up (default: %(default)s)",
    )
    parser.add_argument(
        "--lease-dir", default="", help="folder of the GPU lease locks (default: a new temp folder)"
    )
    parser.add_argument(
        "--worker", nargs=3, metavar=("CELL", "DEVICE", "POOL"), help="internal: one measurement"
    )
    args = parser.parse_args()
    lease_dir = args.lease_dir or tempfile.mkdtemp(prefix="finrnn-gpu-check-")
    if args.worker:
        cell, device, pool = args.worker
        worker(
            cell,
            device,
            [int(i) for i in pool.split(",") if i],
            args.samples,
            args.epochs,
            lease_dir,
        )
        return 0

    gpus = detect_gpu_ids()
    print(f"NVIDIA GPUs visible: {len(gpus)}")
    cpu = {
        cell: collect(spawn(cell, "cpu", [], args, lease_dir)) for cell in ("lstm", "gru", "rnn")
    }
    if not gpus:
        for cell, r in cpu.items():
            print(f"{cell:4s} cpu  {r['samples_per_s']:10.0f} samples/s")
        print("No NVIDIA GPU on this machine: GPU checks not run (CPU baseline only).")
        return 0

    print(f"{'cell':4s} {'GPU 0 samples/s':>16s} {'CPU samples/s':>14s} {'speed-up':>9s} fused")
    failures = []
    for cell in ("lstm", "gru", "rnn"):
        g = collect(spawn(cell, "gpu", [0], args, lease_dir))
        c = cpu[cell]
        print(
            f"{cell:4s} {g['samples_per_s']:16.0f} {c['samples_per_s']:14.0f} "
            f"{g['samples_per_s'] / c['samples_per_s']:9.1f} {g['fused_gpu_kernel']}"
        )
        if not g["device_used"].startswith("/GPU"):
            failures.append(f"{cell} did not run on a GPU: {g['device_used']}")
        if g["fused_gpu_kernel"] != (cell in ("lstm", "gru")):
            failures.append(f"{cell}: fused_gpu_kernel={g['fused_gpu_kernel']} with defaults")

    if len(gpus) >= 2:
        procs = [spawn("lstm", "gpu", [0, 1], args, lease_dir) for _ in range(2)]
        both = [collect(p) for p in procs]
        overlap = min(r["end"] for r in both) - max(r["start"] for r in both)
        print(
            "two LSTM instances at once: "
            + "; ".join(f"{r['device']} {r['samples_per_s']:.0f} samples/s" for r in both)
            + f"; overlapped {overlap:.1f}s"
        )
        if both[0]["device"] == both[1]["device"]:
            failures.append("the two concurrent instances leased the same GPU")
    else:
        print("one GPU: the two-instance check needs two")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
