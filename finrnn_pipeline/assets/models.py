"""Models: one checkpoint asset per cell type (LSTM, GRU, basic RNN), a partition per cut-off."""

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from finrnn_core.devices import DevicePlan
from finrnn_core.errors import FinRNNError
from finrnn_core.plots import loss_curve_png
from finrnn_core.storage import partition_dates as stored_dates
from finrnn_core.storage import read_table
from finrnn_core.training import (
    CELL_TYPES,
    TrainedCheckpoint,
    TrainingSpec,
    list_checkpoints,
    train_checkpoint,
    warm_start_candidate,
)
from finrnn_pipeline.assets.features import price_features
from finrnn_pipeline.executors import EXECUTOR_ENV
from finrnn_pipeline.io_managers import require_sessions
from finrnn_pipeline.metadata import OWNERS, image
from finrnn_pipeline.partitions import partition_dates, retrain_cutoffs
from finrnn_pipeline.resources import ComputeResource, PriceSourceResource, StorageResource

# A training step that fails (out of memory, a lost device, a killed worker process reported as
# a failure) runs again and resumes after its last completed epoch.
TRAINING_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=10)

# Training steps share the Dagster concurrency pool "gpu": set its limit to the number of GPUs
# (`dagster instance concurrency set gpu 2`) and extra steps wait in the queue. dagster-dask
# cannot submit steps that carry a pool, so under the Dask executor the workers' thread count
# bounds concurrency instead.
TRAINING_POOL = None if os.environ.get(EXECUTOR_ENV) == "dask" else "gpu"

_DEFAULTS = TrainingSpec()


class TrainingConfig(dg.Config):
    """Launchpad knobs for training; defaults are small so the demo trains in seconds on a CPU."""

    warm_start: bool = Field(
        default=True,
        description="Start from the weights of the newest checkpoint with an earlier cut-off "
        "(same architecture) and continue its epoch count; false: train each cut-off from "
        "scratch.",
    )
    device_num: int | None = Field(
        default=None,
        description="Pin this model to one GPU id (nvidia-smi numbering); empty: lease a GPU "
        "from the compute resource's gpu_pool (or its device_num).",
    )
    epochs: int = Field(
        default=_DEFAULTS.epochs,
        description="Training epochs per cut-off (passes over all tickers), also when warm "
        "starting.",
    )
    n_states: int = Field(default=_DEFAULTS.n_states, description="Units per recurrent layer.")
    n_layers: int = Field(default=_DEFAULTS.n_layers, description="Stacked recurrent layers.")
    n_time_steps: int = Field(
        default=_DEFAULTS.n_time_steps, description="Trading days per input window."
    )
    forward_step: int = Field(
        default=_DEFAULTS.forward_step, description="Target horizon: trading days ahead."
    )
    inner_iteration: int = Field(
        default=_DEFAULTS.inner_iteration, description="Optimizer steps per ticker batch per epoch."
    )
    start_learning_rate: float = Field(
        default=_DEFAULTS.start_learning_rate, description="Adam learning rate at epoch 0."
    )
    decay_rate: float = Field(
        default=_DEFAULTS.decay_rate, description="Learning-rate decay factor over the run."
    )
    decay_steps: int = Field(
        default=_DEFAULTS.decay_steps, description="Learning-rate decay period."
    )
    l1_reg: float = Field(default=_DEFAULTS.l1_reg, description="L1 penalty on all weights.")
    l2_reg: float = Field(default=_DEFAULTS.l2_reg, description="L2 penalty on all weights.")
    keep_prob: float = Field(
        default=_DEFAULTS.keep_prob, description="Dropout keep probability in training."
    )
    seed: int = Field(default=_DEFAULTS.seed, description="Random seed.")
    in_sample_fraction: float = Field(
        default=_DEFAULTS.in_sample_fraction,
        description="Share of training windows (in time order) the loss sees; the rest is "
        "out-of-sample evaluation.",
    )

    def spec(self, cell_type: str) -> TrainingSpec:
        fields = self.model_dump(exclude={"warm_start", "device_num"})
        return TrainingSpec(cell_type=cell_type, **fields)


def epoch_progress(
    cell_type: str,
    epoch: int,
    epochs: int,
    metrics: dict[str, float],
    epoch_seconds: list[float],
) -> str:
    """One training-progress log line: loss, correlations, epoch time and the ETA.

    The ETA is the average epoch time so far times the epochs left, e.g. epochs 1-2 of 5 took
    4 s and 6 s: `eta=15s` (5 s x 3 epochs left).
    """
    nan = float("nan")
    average = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else 0.0
    eta = average * max(epochs - epoch, 0)
    return (
        f"{cell_type} epoch {epoch}/{epochs}: loss={metrics.get('loss', nan):.4f} "
        f"corr_is={metrics.get('corr_is', nan):.3f} corr_oos={metrics.get('corr_oos', nan):.3f} "
        f"({metrics.get('seconds', 0.0):.1f}s, eta={eta:.0f}s)"
    )


def build_checkpoint_asset(cell_type: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{cell_type}_checkpoint",
        group_name="models",
        partitions_def=retrain_cutoffs,
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=TRAINING_RETRY_POLICY,
        pool=TRAINING_POOL,
        # A cut-off's training reads every feature row up to it (nothing after it).
        deps=[dg.AssetDep(price_features, partition_mapping=dg.AllPartitionMapping())],
        kinds={"tensorflow"},
        owners=OWNERS,
        description=f"{cell_type.upper()} network trained on windows whose targets are "
        "realized by the cut-off; a partition is one cut-off (TensorFlow checkpoint plus JSON "
        "under rnn_checkpoints/).",
    )
    def _checkpoint(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        storage: StorageResource,
        compute: ComputeResource,
        price_source: PriceSourceResource,
    ) -> dg.MaterializeResult:
        cutoffs = partition_dates(context)  # a ranged run trains them in order, each warm
        step = f"{cell_type}@{'..'.join(dict.fromkeys([cutoffs[0], cutoffs[-1]]))}"
        table = storage.path("price_features")
        stored = stored_dates(table)
        if stored:
            # Every session from the first stored day to the cut-off, the cut-off's own
            # included: a checkpoint must not quietly train on a week that was never built
            # (e.g. the daily run has not finished, or failed).
            with _failure_without_retry(step):
                require_sessions(
                    table,
                    price_source.sessions(pd.Timestamp(stored[0]), pd.Timestamp(cutoffs[-1])),
                    f"up to cut-off {cutoffs[-1]}",
                    stored,
                )
        features = read_table(table, end=pd.Timestamp(cutoffs[-1]))
        # The lease sets the visible GPU(s) before TensorFlow starts in this step's process.
        with (
            _interrupts_end_the_run(context.run.run_id, step),
            _failure_without_retry(step),
            compute.training_devices(config.device_num) as (
                plan,
                strategy,
            ),
        ):
            context.log.info(f"{step}: training on {plan.describe()}")
            if plan.fallback_reason:
                context.log.warning(
                    f"{plan.fallback_reason}; {step} trains on the CPU. "
                    "Set strict_device to fail instead."
                )
            trained = [
                train_cutoff(context, config, storage, features, cell_type, cutoff, plan, strategy)
                for cutoff in cutoffs
            ]
        return dg.MaterializeResult(metadata=checkpoint_metadata(trained, context.retry_number))

    return _checkpoint


# Runs whose training a Ctrl-C or SIGTERM stopped, so their later training steps in the same
# process (the in-process executor) stop at once instead of starting.
_INTERRUPTED_RUNS: set[str] = set()


@contextmanager
def _interrupts_end_the_run(run_id: str, step: str) -> Iterator[None]:
    """A Ctrl-C or SIGTERM during training fails the step without a retry, and ends the run.

    Dagster turns an interrupt inside a step that has a retry policy into a retry, so without
    this each Ctrl-C of `finrnn-demo` only moved training on to the next attempt or model.
    Signal handlers can only be set on the main thread; elsewhere (the Dask executor's
    threads) Dagster's own handling stays.
    """
    if run_id in _INTERRUPTED_RUNS:
        raise dg.Failure(
            description=f"{step}: not started, the run was interrupted (Ctrl-C or SIGTERM).",
            allow_retries=False,
        )
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        _INTERRUPTED_RUNS.add(run_id)
        raise dg.Failure(
            description=f"{step}: interrupted by {signal.Signals(signum).name}; not retried. "
            "Re-running with the same settings resumes after the last completed epoch.",
            allow_retries=False,
        )

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def _failure_without_retry(step: str) -> Iterator[None]:
    """Turns finrnn's own errors into a `dg.Failure` that the retry policy does not retry.

    Bad config, data, a missing GPU in strict mode or a diverged loss come back the same on a
    retry; the retry policy is for the rest (out of memory, a lost device, a crash).
    """
    try:
        yield
    except FinRNNError as exc:
        raise dg.Failure(
            description=f"{step}: {type(exc).__name__}: {exc}", allow_retries=False
        ) from exc


def train_cutoff(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    storage: StorageResource,
    features: pd.DataFrame,
    cell_type: str,
    cutoff: str,
    plan: DevicePlan,
    strategy: Any,
) -> TrainedCheckpoint:
    """Train one cut-off, warm from the newest earlier checkpoint when configured and usable."""
    root = storage.path("rnn_checkpoints")
    spec = config.spec(cell_type)
    warm, why_not = warm_start_candidate(list_checkpoints(root), spec, cutoff)
    if not config.warm_start:
        warm = None
    elif warm is None:
        context.log.info(f"{cell_type}@{cutoff}: training from scratch ({why_not}).")
    if not plan.is_chief:
        # Every multi-worker worker trains the same weights; only the chief writes the store.
        root = tempfile.mkdtemp(prefix=f"finrnn-worker{plan.config.worker_index}-")
    last_epoch = (warm.epochs[-1] if warm is not None else 0) + config.epochs
    epoch_seconds: list[float] = []

    def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
        epoch_seconds.append(metrics.get("seconds", 0.0))
        context.log.info(
            epoch_progress(f"{cell_type}@{cutoff}", epoch, last_epoch, metrics, epoch_seconds)
        )

    ckpt = train_checkpoint(
        features,
        spec,
        cutoff,
        root,
        device=plan.device,
        device_num=plan.device_num,
        strict_device=plan.config.strict,
        callback=log_epoch,
        warm_start=warm,
        strategy=strategy,
        mixed_precision=plan.config.mixed_precision,
        device_assignment=plan.describe(),
    )
    if ckpt.resumed_after_epoch:
        context.log.warning(
            f"{ckpt.version}: resumed after epoch {ckpt.resumed_after_epoch}, completed by an "
            f"earlier attempt (this is attempt {context.retry_number + 1})."
        )
    context.log.info(f"{ckpt.version}: trained on {ckpt.device_used} ({ckpt.device_assignment})")
    if plan.device == "gpu" and "GPU" not in ckpt.device_used.upper():
        context.log.warning(
            f"{ckpt.version}: {plan.describe()} was leased but TensorFlow trained on "
            f"{ckpt.device_used} (a TensorFlow build without CUDA?). Set strict_device to fail."
        )
    if ckpt.skipped_tickers:
        context.log.warning(
            f"{ckpt.version}: {len(ckpt.skipped_tickers)} ticker(s) have no training window, "
            f"their history being shorter than n_time_steps + forward_step: "
            f"{', '.join(ckpt.skipped_tickers[:10])}"
        )
    return ckpt


def checkpoint_metadata(trained: list[TrainedCheckpoint], retry_number: int) -> dict:
    """Metadata of the newest cut-off trained, plus one line per cut-off of a ranged run."""
    ckpt = trained[-1]
    return {
        "model_version": ckpt.version,
        "cutoff": ckpt.cutoff,
        "train_window": f"{ckpt.train_start}..{ckpt.cutoff}",
        "in_sample_end": ckpt.split_date,
        "scaling_fit_window": f"{ckpt.scaling.fit_start}..{ckpt.scaling.fit_end}",
        "warm_start_from": ckpt.warm_start_from or "none (from scratch)",
        "attempt": retry_number + 1,
        "resumed_after_epoch": ckpt.resumed_after_epoch,
        "training_windows": ckpt.n_in_sample + ckpt.n_out_of_sample,
        "in_sample_windows": ckpt.n_in_sample,
        "out_of_sample_windows": ckpt.n_out_of_sample,
        "tickers": len(ckpt.tickers),
        "tickers_skipped_short_history": len(ckpt.skipped_tickers),
        "epochs": ckpt.epochs[-1] if ckpt.epochs else 0,
        "final_loss": ckpt.loss_per_epoch[-1] if ckpt.loss_per_epoch else float("nan"),
        "corr_in_sample": ckpt.corr_is,
        "corr_out_of_sample": ckpt.corr_oos,
        "loss_per_epoch": dg.MetadataValue.json(ckpt.loss_per_epoch),
        "loss_curve": image(
            loss_curve_png(
                ckpt.loss_per_epoch,
                ckpt.corr_is_per_epoch,
                ckpt.corr_oos_per_epoch,
                title=f"{ckpt.version}",
                epochs=ckpt.epochs,
            ),
            alt=f"{ckpt.model_id} loss and correlation per epoch",
        ),
        "cutoffs_trained": dg.MetadataValue.json(
            [
                {
                    "cutoff": c.cutoff,
                    "model_version": c.version,
                    "warm_start_from": c.warm_start_from,
                    "epochs": f"{c.epochs[0]}..{c.epochs[-1]}" if c.epochs else "",
                    "final_loss": c.loss_per_epoch[-1] if c.loss_per_epoch else None,
                    "corr_out_of_sample": c.corr_oos,
                }
                for c in trained
            ]
        ),
        "device_used": ckpt.device_used,
        "device_assignment": ckpt.device_assignment,
        "mixed_precision": ckpt.mixed_precision,
        "path": dg.MetadataValue.path(ckpt.model_dir),
    }


checkpoint_assets = [build_checkpoint_asset(cell_type) for cell_type in CELL_TYPES]
