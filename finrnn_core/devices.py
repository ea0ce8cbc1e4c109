"""Turns `device` / `device_num` settings into a TensorFlow device string."""

from __future__ import annotations

import logging

from finrnn_core.errors import ConfigError, DeviceError

logger = logging.getLogger("finrnn_core")


def resolve_device(device: str, device_num: int = 0, strict: bool = False) -> str:
    """Picks the TensorFlow device to build and train on.

    A GPU request on a machine without that GPU falls back to `"/CPU:0"` with a
    warning, unless `strict` is set.

    Args:
        device: `"cpu"` or `"gpu"` (case-insensitive).
        device_num: Index of the device, `>= 0`. Defaults to 0.
        strict: Raise instead of falling back to the CPU. Defaults to `False`.

    Returns:
        A device string such as `"/CPU:0"` or `"/GPU:1"`.

    Raises:
        ConfigError: If `device` or `device_num` is invalid.
        DeviceError: If `strict` is set and the requested GPU does not exist.
    """
    if not isinstance(device, str) or device.lower() not in ("cpu", "gpu"):
        raise ConfigError(f"`device` must be 'cpu' or 'gpu'. Received: device={device!r}")
    if isinstance(device_num, bool) or not isinstance(device_num, int) or device_num < 0:
        raise ConfigError(
            f"`device_num` must be an integer >= 0. Received: device_num={device_num!r}"
        )
    if device.lower() == "cpu":
        # TensorFlow exposes every host core as one logical CPU device.
        return "/CPU:0"

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if device_num < len(gpus):
        return f"/GPU:{device_num}"
    reason = f"GPU {device_num} was requested but {len(gpus)} GPU(s) are visible to TensorFlow"
    if strict:
        raise DeviceError(f"{reason}. Received: device='gpu', device_num={device_num}")
    logger.warning("%s; falling back to /CPU:0.", reason)
    return "/CPU:0"
