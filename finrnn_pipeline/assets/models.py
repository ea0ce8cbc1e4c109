"""Models: one checkpoint asset per cell type (LSTM, GRU, basic RNN), a partition per cut-off."""

import dagster as dg
import pandas as pd
from pydantic import Field

from finrnn_core.errors import FinRNNError
from finrnn_core.plots import loss_curve_png
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
from finrnn_pipeline.metadata import OWNERS, image
from finrnn_pipeline.partitions import partition_dates, retrain_cutoffs
from finrnn_pipeline.resources import ComputeResource, StorageResource

# A training step that fails (out of memory, a lost device, a killed worker process reported as
# a failure) runs again and resumes after its last completed epoch.
TRAINING_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=10)

_DEFAULTS = TrainingSpec()


class TrainingConfig(dg.Config):
    """Launchpad knobs for training; defaults are small so the demo trains in seconds on a CPU."""

    warm_start: bool = Field(
        default=True,
        description="Start from the weights of the newest checkpoint with an earlier cut-off "
        "(same architecture) and continue its epoch count; false: train each cut-off from "
        "scratch.",
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
        fields = self.model_dump(exclude={"warm_start"})
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
    ) -> dg.MaterializeResult:
        cutoffs = partition_dates(context)  # a ranged run trains them in order, each warm
        features = read_table(storage.path("price_features"), end=pd.Timestamp(cutoffs[-1]))
        trained = [
            train_cutoff(context, config, storage, compute, features, cell_type, cutoff)
            for cutoff in cutoffs
        ]
        return dg.MaterializeResult(metadata=checkpoint_metadata(trained, context.retry_number))

    return _checkpoint


def train_cutoff(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    storage: StorageResource,
    compute: ComputeResource,
    features: pd.DataFrame,
    cell_type: str,
    cutoff: str,
) -> TrainedCheckpoint:
    """Train one cut-off, warm from the newest earlier checkpoint when configured and usable."""
    root = storage.path("rnn_checkpoints")
    spec = config.spec(cell_type)
    warm, why_not = warm_start_candidate(list_checkpoints(root), spec, cutoff)
    if not config.warm_start:
        warm = None
    elif warm is None:
        context.log.info(f"{cell_type}@{cutoff}: training from scratch ({why_not}).")
    last_epoch = (warm.epochs[-1] if warm is not None else 0) + config.epochs
    epoch_seconds: list[float] = []

    def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
        epoch_seconds.append(metrics.get("seconds", 0.0))
        context.log.info(
            epoch_progress(f"{cell_type}@{cutoff}", epoch, last_epoch, metrics, epoch_seconds)
        )

    try:
        ckpt = train_checkpoint(
            features,
            spec,
            cutoff,
            root,
            device=compute.device,
            device_num=compute.device_num,
            strict_device=compute.strict_device,
            callback=log_epoch,
            warm_start=warm,
        )
    except FinRNNError as exc:
        # finrnn's own errors (bad config, data, device, a diverged loss) come back the same on
        # a retry; the retry policy is for the rest (out of memory, a lost device, a crash).
        raise dg.Failure(
            description=f"{cell_type}@{cutoff}: {type(exc).__name__}: {exc}", allow_retries=False
        ) from exc
    if ckpt.resumed_after_epoch:
        context.log.warning(
            f"{ckpt.version}: resumed after epoch {ckpt.resumed_after_epoch}, completed by an "
            f"earlier attempt (this is attempt {context.retry_number + 1})."
        )
    log_warnings(context, compute, ckpt)
    return ckpt


def log_warnings(
    context: dg.AssetExecutionContext, compute: ComputeResource, ckpt: TrainedCheckpoint
) -> None:
    """Tell the run about skipped tickers and a GPU that was asked for but not used."""
    if ckpt.skipped_tickers:
        context.log.warning(
            f"{ckpt.version}: {len(ckpt.skipped_tickers)} ticker(s) have no training window, "
            f"their history being shorter than n_time_steps + forward_step: "
            f"{', '.join(ckpt.skipped_tickers[:10])}"
        )
    if compute.device == "gpu" and not ckpt.device_used.upper().startswith("/GPU"):
        context.log.warning(
            f"GPU {compute.device_num} was requested but is not available; {ckpt.model_id} "
            f"trained on {ckpt.device_used}. Set strict_device to fail instead."
        )


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
        "path": dg.MetadataValue.path(ckpt.model_dir),
    }


checkpoint_assets = [build_checkpoint_asset(cell_type) for cell_type in CELL_TYPES]
