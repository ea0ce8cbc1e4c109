"""TensorFlow distribution strategies for one model trained on several devices or machines.

`mirrored` is `tf.distribute.MirroredStrategy` over the devices of a `DevicePlan` (several GPUs,
or logical CPUs); `multi_worker` is `tf.distribute.MultiWorkerMirroredStrategy` configured from
the worker addresses and this worker's index. Pass the strategy to a model as
`LSTM(..., strategy=strategy)`; the model then builds its variables in the strategy's scope and
splits every batch across the replicas.

TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from finrnn_core.devices import DevicePlan
from finrnn_core.errors import ConfigError

TF_CONFIG_ENV = "TF_CONFIG"


def tf_config(workers: Sequence[str], worker_index: int) -> dict[str, Any]:
    """The `TF_CONFIG` of one worker of a multi-worker cluster.

    Args:
        workers: `host:port` of every worker, the same list (same order) on every worker.
        worker_index: This worker's index in `workers`; worker 0 is the chief.

    Returns:
        `{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": worker_index}}`.

    Raises:
        ConfigError: If `workers` is empty or `worker_index` is out of range.
    """
    workers = list(workers)
    if not workers:
        raise ConfigError("`workers` must list at least one 'host:port'. Received: workers=[]")
    if (
        isinstance(worker_index, bool)
        or not isinstance(worker_index, int)
        or not (0 <= worker_index < len(workers))
    ):
        raise ConfigError(
            f"`worker_index` must be in [0, {len(workers) - 1}]. "
            f"Received: worker_index={worker_index!r}"
        )
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": worker_index}}


def make_strategy(plan: DevicePlan) -> Any:
    """Builds the plan's distribution strategy, or `None` for `strategy="none"`.

    Call it after `plan.apply()` and before any other TensorFlow work in the process:
    `MultiWorkerMirroredStrategy` must be created at program start, and logical CPU devices
    can only be configured before the runtime starts.

    Args:
        plan: A leased `DevicePlan`.

    Returns:
        `None`, a `tf.distribute.MirroredStrategy` over `plan.tf_devices`, or a
        `tf.distribute.MultiWorkerMirroredStrategy` whose `TF_CONFIG` was set from
        `workers` / `worker_index`.
    """
    cfg = plan.config
    if cfg.strategy == "none":
        return None
    import tensorflow as tf

    plan.configure_tensorflow()
    if cfg.strategy == "mirrored":
        devices = plan.tf_devices
        if len(devices) < 2:
            # Still a strategy, so the code path is the same with one device.
            return tf.distribute.MirroredStrategy(devices=devices)
        cross = None if plan.gpu_ids else tf.distribute.ReductionToOneDevice(devices[0])
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)
    os.environ[TF_CONFIG_ENV] = json.dumps(tf_config(cfg.workers, cfg.worker_index))
    implementation = (
        tf.distribute.experimental.CommunicationImplementation.NCCL
        if plan.gpu_ids
        else tf.distribute.experimental.CommunicationImplementation.RING
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=implementation
        )
    )
