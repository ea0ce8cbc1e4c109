"""Which device a training process uses: GPU pools, cross-process leases, CPU fallback.

Nothing here imports TensorFlow at module import time. The order in a training process is:

1. `ComputeConfig` says what the deployment may use (device type, a pool of GPU ids, memory
   and precision settings, the distribution strategy).
2. `lease_devices(config, pinned=...)` picks the GPU id(s) for this process: the pinned
   `device_num` of a model spec, or free ids from the pool. A lease is an exclusive lock on a
   file `gpu-<id>.lock` under `lease_dir`, so concurrent processes on one machine never get the
   same id; the lock dies with the process, so a killed step never leaks a GPU.
3. `DevicePlan.apply()` sets `CUDA_VISIBLE_DEVICES` to the leased ids before TensorFlow starts in
   the process (the leased GPU is then `/GPU:0` inside it) and, once TensorFlow is imported,
   memory growth or a memory limit per GPU.

Without the requested GPU the plan falls back to `/CPU:0` with a warning, or raises
`DeviceError` when `strict` is set.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from finrnn_core.errors import ConfigError, DeviceError

logger = logging.getLogger("finrnn_core")

DEVICE_TYPES = ("cpu", "gpu")
STRATEGIES = ("none", "mirrored", "multi_worker")
LEASE_DIR_ENV = "FINRNN_LEASE_DIR"


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
    if not isinstance(device, str) or device.lower() not in DEVICE_TYPES:
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ComputeConfig:
    """What a deployment may compute on; validated on creation.

    Args:
        device: `"cpu"` or `"gpu"`. Defaults to `"cpu"`.
        device_num: GPU id used when `gpu_pool` is empty. Defaults to 0.
        gpu_pool: GPU ids (as `nvidia-smi` numbers them) that concurrent training
            processes on this machine lease from; empty: always `device_num`. Defaults to `()`.
        gpus_per_replica_group: GPU ids one training process leases; more than one only
            makes sense with `strategy="mirrored"`. Defaults to 1.
        memory_growth: Let TensorFlow grow GPU memory as needed instead of taking it all.
            Defaults to `True`.
        memory_limit_mb: Cap on the GPU memory TensorFlow may use, per GPU; `None`: no
            cap. Defaults to `None`.
        mixed_precision: Compute recurrent layers in float16 (variables and the loss
            stay float32, with loss scaling). Defaults to `False`.
        strategy: `"none"`, `"mirrored"` (several devices, one process) or
            `"multi_worker"` (several processes / machines). Defaults to `"none"`.
        cpu_replicas: With `strategy="mirrored"` on the CPU: split the host CPU into
            this many logical devices. Defaults to 1.
        workers: `host:port` of every worker, for `strategy="multi_worker"`. Defaults to `()`.
        worker_index: This process's index in `workers`. Defaults to 0.
        strict: Raise `DeviceError` instead of falling back to the CPU. Defaults to `False`.
        lease_dir: Folder of the lease lock files, shared by all processes of one machine;
            `None`: `$FINRNN_LEASE_DIR` or `<tmp>/finrnn-device-leases`. Defaults to `None`.
        lease_timeout_s: Seconds to wait for a free GPU before raising `DeviceError`;
            `None`: wait for ever. Defaults to `None`.

    Raises:
        ConfigError: If a field breaks its rule.
    """

    device: str = "cpu"
    device_num: int = 0
    gpu_pool: tuple[int, ...] = ()
    gpus_per_replica_group: int = 1
    memory_growth: bool = True
    memory_limit_mb: int | None = None
    mixed_precision: bool = False
    strategy: str = "none"
    cpu_replicas: int = 1
    workers: tuple[str, ...] = ()
    worker_index: int = 0
    strict: bool = False
    lease_dir: str | None = None
    lease_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or self.device.lower() not in DEVICE_TYPES:
            raise ConfigError(
                f"`device` must be one of {DEVICE_TYPES}. Received: device={self.device!r}"
            )
        object.__setattr__(self, "device", self.device.lower())
        if not _is_int(self.device_num) or self.device_num < 0:
            raise ConfigError(
                f"`device_num` must be an integer >= 0. Received: device_num={self.device_num!r}"
            )
        pool = tuple(self.gpu_pool)
        if not all(_is_int(i) and i >= 0 for i in pool) or len(set(pool)) != len(pool):
            raise ConfigError(
                f"`gpu_pool` must hold distinct integers >= 0. Received: gpu_pool={list(pool)!r}"
            )
        object.__setattr__(self, "gpu_pool", pool)
        if not _is_int(self.gpus_per_replica_group) or self.gpus_per_replica_group < 1:
            raise ConfigError(
                "`gpus_per_replica_group` must be an integer >= 1. "
                f"Received: gpus_per_replica_group={self.gpus_per_replica_group!r}"
            )
        if pool and self.gpus_per_replica_group > len(pool):
            raise ConfigError(
                f"`gpus_per_replica_group` must be <= len(gpu_pool)={len(pool)}. "
                f"Received: gpus_per_replica_group={self.gpus_per_replica_group}"
            )
        for name in ("memory_growth", "mixed_precision", "strict"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}"
                )
        if self.memory_limit_mb is not None and (
            not _is_int(self.memory_limit_mb) or self.memory_limit_mb <= 0
        ):
            raise ConfigError(
                "`memory_limit_mb` must be an integer > 0 or None. "
                f"Received: memory_limit_mb={self.memory_limit_mb!r}"
            )
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"`strategy` must be one of {STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        if not _is_int(self.cpu_replicas) or self.cpu_replicas < 1:
            raise ConfigError(
                f"`cpu_replicas` must be an integer >= 1. Received: cpu_replicas={self.cpu_replicas!r}"
            )
        workers = tuple(self.workers)
        if not all(isinstance(w, str) and _host_port(w) for w in workers):
            raise ConfigError(
                f"`workers` must be 'host:port' strings. Received: workers={list(workers)!r}"
            )
        object.__setattr__(self, "workers", workers)
        if self.strategy == "multi_worker" and not workers:
            raise ConfigError(
                "`workers` must list every worker's 'host:port' when strategy='multi_worker'. "
                "Received: workers=[]"
            )
        if not _is_int(self.worker_index) or not (0 <= self.worker_index < max(len(workers), 1)):
            raise ConfigError(
                f"`worker_index` must be in [0, {max(len(workers), 1) - 1}]. "
                f"Received: worker_index={self.worker_index!r}"
            )
        if self.lease_timeout_s is not None and (
            isinstance(self.lease_timeout_s, bool)
            or not isinstance(self.lease_timeout_s, int | float)
            or self.lease_timeout_s < 0
        ):
            raise ConfigError(
                "`lease_timeout_s` must be a number >= 0 or None. "
                f"Received: lease_timeout_s={self.lease_timeout_s!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON values."""
        values = dataclasses.asdict(self)
        values["gpu_pool"] = list(self.gpu_pool)
        values["workers"] = list(self.workers)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ComputeConfig:
        """Rebuilds a config from `to_dict()` output.

        Raises:
            ConfigError: If a key is unknown or a value invalid.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown ComputeConfig fields: {unknown}")
        values = dict(values)
        for key in ("gpu_pool", "workers"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def _host_port(address: str) -> bool:
    host, sep, port = address.rpartition(":")
    return bool(sep and host and port.isdigit())


def detect_gpu_ids() -> list[int]:
    """GPU ids on this machine, without starting TensorFlow.

    Reads `/proc/driver/nvidia/gpus` (Linux driver), else `nvidia-smi -L`; then keeps only
    the ids `CUDA_VISIBLE_DEVICES` lets this process see, renumbered as CUDA does.

    Returns:
        The ids `0..n-1` this process can use; `[]` on a machine without NVIDIA GPUs.
    """
    count = len(glob.glob("/proc/driver/nvidia/gpus/*"))
    if count == 0 and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=False
            ).stdout
            count = sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            count = 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    ids: list[int] = []
    for part in visible.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) >= count:
            break  # CUDA stops at the first invalid entry
        ids.append(int(part))
    return list(range(len(ids)))


@dataclass
class DevicePlan:
    """The devices one training process uses; made by `lease_devices`.

    Attributes:
        config: The `ComputeConfig` the plan came from.
        gpu_ids: Physical GPU ids leased for this process (empty on the CPU).
        fallback_reason: Why a GPU request ended on the CPU, or `None`.
        pinned: The ids were pinned (a spec's `device_num`, or `device_num` without a pool).
    """

    config: ComputeConfig
    gpu_ids: list[int] = field(default_factory=list)
    fallback_reason: str | None = None
    pinned: bool = False
    _applied_env: bool = False

    @property
    def device(self) -> str:
        """`"gpu"` when GPU ids were leased, else `"cpu"`."""
        return "gpu" if self.gpu_ids else "cpu"

    @property
    def device_num(self) -> int:
        """The index of the first leased GPU as TensorFlow numbers it in this process."""
        if not self.gpu_ids:
            return 0
        return 0 if self._applied_env else self.gpu_ids[0]

    @property
    def is_chief(self) -> bool:
        """Whether this process writes results: always, except multi-worker workers > 0."""
        return self.config.strategy != "multi_worker" or self.config.worker_index == 0

    @property
    def tf_devices(self) -> list[str]:
        """TensorFlow device names of every leased device, e.g. `["/GPU:0", "/GPU:1"]`."""
        if not self.gpu_ids:
            n = self.config.cpu_replicas if self.config.strategy == "mirrored" else 1
            return [f"/CPU:{i}" for i in range(n)]
        if self._applied_env:
            return [f"/GPU:{i}" for i in range(len(self.gpu_ids))]
        return [f"/GPU:{i}" for i in self.gpu_ids]

    def describe(self) -> str:
        """One line for logs and metadata, e.g. `"gpu 1 (leased from pool [0, 1])"`."""
        if not self.gpu_ids:
            return "cpu" + (f" (fallback: {self.fallback_reason})" if self.fallback_reason else "")
        ids = ", ".join(map(str, self.gpu_ids))
        source = (
            "pinned"
            if self.pinned or not self.config.gpu_pool
            else f"leased from pool {list(self.config.gpu_pool)}"
        )
        return f"gpu {ids} ({source})"

    def apply(self) -> None:
        """Makes only the leased GPUs visible to this process and applies the memory settings.

        Before TensorFlow is imported this sets `CUDA_VISIBLE_DEVICES` (the leased GPUs become
        `/GPU:0..n-1`, and TensorFlow never allocates memory on the others). Once TensorFlow is
        imported it uses `tf.config.set_visible_devices` instead, which works until the
        TensorFlow runtime has started; after that the GPUs keep their original numbers and a
        warning says other GPUs stay visible.

        Raises:
            DeviceError: If `strict` is set and the visibility can no longer be changed.
        """
        if self.gpu_ids and "tensorflow" not in sys.modules:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, self.gpu_ids))
            self._applied_env = True
        elif self.gpu_ids:
            import tensorflow as tf

            physical = tf.config.list_physical_devices("GPU")
            try:
                tf.config.set_visible_devices([physical[i] for i in self.gpu_ids], "GPU")
                self._applied_env = True
            except (RuntimeError, IndexError) as exc:
                message = (
                    f"Cannot restrict TensorFlow to GPU(s) {self.gpu_ids}: {exc}. Set the "
                    "device before TensorFlow starts in the process (one process per step)"
                )
                if self.config.strict:
                    raise DeviceError(message) from exc
                logger.warning("%s; other GPUs stay visible.", message)
        if "tensorflow" in sys.modules:
            self.configure_tensorflow()

    def configure_tensorflow(self) -> None:
        """Applies `memory_growth`, `memory_limit_mb` and `cpu_replicas` (imports TensorFlow).

        Settings that TensorFlow no longer accepts because its runtime has started are
        skipped with a warning.
        """
        import tensorflow as tf

        cfg = self.config
        try:
            if self.gpu_ids:
                for gpu in tf.config.get_visible_devices("GPU"):
                    if cfg.memory_limit_mb is not None:
                        tf.config.set_logical_device_configuration(
                            gpu,
                            [
                                tf.config.LogicalDeviceConfiguration(
                                    memory_limit=cfg.memory_limit_mb
                                )
                            ],
                        )
                    elif cfg.memory_growth:
                        tf.config.experimental.set_memory_growth(gpu, True)
            elif cfg.strategy == "mirrored" and cfg.cpu_replicas > 1:
                cpu = tf.config.list_physical_devices("CPU")[0]
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * cfg.cpu_replicas
                )
        except (RuntimeError, ValueError) as exc:
            logger.warning(
                "TensorFlow device settings not applied (runtime already started): %s", exc
            )


def default_lease_dir() -> str:
    """`$FINRNN_LEASE_DIR`, else `<tmp>/finrnn-device-leases`."""
    return os.environ.get(LEASE_DIR_ENV) or os.path.join(
        tempfile.gettempdir(), "finrnn-device-leases"
    )


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: IO[str]) -> None:
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _candidates(
    config: ComputeConfig, pinned: int | None, available: Sequence[int]
) -> tuple[list[int], str | None]:
    """Returns `(GPU ids this process may lease, fallback reason or None)`."""
    if pinned is not None and (not _is_int(pinned) or pinned < 0):
        # checked on every deployment, so a spec that is wrong fails on CPU-only machines too
        raise ConfigError(f"`device_num` must be an integer >= 0. Received: device_num={pinned!r}")
    if config.device == "cpu":
        if pinned is not None:
            logger.info("device_num=%s is not used: the compute device is 'cpu'.", pinned)
        return [], None
    present = set(available)
    if pinned is not None:
        wanted, need, which = [pinned], 1, f"GPU {pinned}"
    elif config.gpu_pool:
        wanted = list(config.gpu_pool)
        need = config.gpus_per_replica_group
        which = f"{need} GPU(s) from pool {wanted}"
    else:
        need = config.gpus_per_replica_group
        wanted = list(range(config.device_num, config.device_num + need))
        which = f"GPU {config.device_num}" if need == 1 else f"GPUs {wanted}"
    usable = [i for i in wanted if i in present]
    if len(usable) >= need and (config.gpu_pool and pinned is None or usable == wanted):
        return usable, None
    return [], f"{which} was requested but {len(present)} GPU(s) are on this machine"


@contextmanager
def lease_devices(
    config: ComputeConfig,
    pinned: int | None = None,
    available: Sequence[int] | None = None,
    poll_s: float = 0.1,
) -> Iterator[DevicePlan]:
    """Leases the GPU(s) for one training process and releases them on exit.

    `pinned` (a model spec's own `device_num`) takes exactly that GPU, waiting while another
    process holds it. Otherwise `gpus_per_replica_group` free ids are taken from `gpu_pool`
    (or `device_num` onwards when the pool is empty). A process either gets all the ids it
    needs or holds none while it waits, so two waiting processes never block each other.

    Args:
        config: The deployment's `ComputeConfig`.
        pinned: A GPU id the model spec pins, or `None` to lease. Defaults to `None`.
        available: GPU ids present; `None`: `detect_gpu_ids()`. Tests pass fake ids here to
            exercise leasing on a CPU-only machine. Defaults to `None`.
        poll_s: Seconds between attempts while every candidate is held. Defaults to 0.1.

    Yields:
        The `DevicePlan`; call `plan.apply()` before building a model.

    Raises:
        DeviceError: If no requested GPU exists and `strict` is set, or no GPU came free
            within `lease_timeout_s`.
        ConfigError: If `pinned` is not an integer >= 0.
    """
    ids = detect_gpu_ids() if available is None else list(available)
    candidates, reason = _candidates(config, pinned, ids)
    if reason is not None:
        if config.strict:
            raise DeviceError(
                f"{reason}. Received: device='gpu', device_num={pinned if pinned is not None else config.device_num}, "
                f"gpu_pool={list(config.gpu_pool)}, strict=True"
            )
        logger.warning("%s; falling back to /CPU:0.", reason)
        yield DevicePlan(config, [], reason)
        return
    if not candidates:
        yield DevicePlan(config, [])
        return

    need = 1 if pinned is not None else config.gpus_per_replica_group
    lease_dir = config.lease_dir or default_lease_dir()
    os.makedirs(lease_dir, exist_ok=True)
    deadline = None if config.lease_timeout_s is None else time.monotonic() + config.lease_timeout_s
    held: list[tuple[int, IO[str]]] = []
    # Start at a per-process offset so concurrent processes try different ids first.
    offset = os.getpid() % len(candidates)
    order = candidates[offset:] + candidates[:offset]
    while True:
        for gpu_id in order:
            handle = open(os.path.join(lease_dir, f"gpu-{gpu_id}.lock"), "a+")  # noqa: SIM115
            if _try_lock(handle):
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
                held.append((gpu_id, handle))
                if len(held) == need:
                    break
            else:
                handle.close()
        if len(held) == need:
            break
        for _, handle in held:
            _unlock(handle)
        held = []
        if deadline is not None and time.monotonic() >= deadline:
            raise DeviceError(
                f"No free GPU among {candidates} after {config.lease_timeout_s}s; every one is "
                f"leased by another training process (locks in {lease_dir!r}). Received: "
                f"lease_timeout_s={config.lease_timeout_s}"
            )
        time.sleep(poll_s)
    plan = DevicePlan(config, sorted(gpu_id for gpu_id, _ in held), pinned=pinned is not None)
    logger.info("Leased %s (pid %d)", plan.describe(), os.getpid())
    try:
        yield plan
    finally:
        for _, handle in held:
            _unlock(handle)
