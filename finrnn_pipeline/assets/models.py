"""Models: one checkpoint asset per cell type (LSTM, GRU, basic RNN), trained up to a cut-off."""

import dagster as dg
import pandas as pd
from pydantic import Field

from finrnn_core.plots import loss_curve_png
from finrnn_core.storage import partition_dates, read_table
from finrnn_core.training import CELL_TYPES, TrainingSpec, train_checkpoint
from finrnn_pipeline.assets.features import price_features
from finrnn_pipeline.metadata import OWNERS, image
from finrnn_pipeline.resources import ComputeResource, StorageResource

_DEFAULTS = TrainingSpec()


class TrainingConfig(dg.Config):
    """Launchpad knobs for training; defaults are small so the demo trains in seconds on a CPU."""

    cutoff: str = Field(
        default="",
        description="Last date (YYYY-MM-DD) a training target may be realized on. Empty: the "
        "date 80% of the way through the stored feature history.",
    )
    epochs: int = Field(
        default=_DEFAULTS.epochs, description="Training epochs (passes over all tickers)."
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
        fields = self.model_dump(exclude={"cutoff"})
        return TrainingSpec(cell_type=cell_type, **fields)


def resolve_cutoff(config_cutoff: str, available_dates: list[str]) -> pd.Timestamp:
    """The configured cut-off, or the date 80% of the way through the available feature dates."""
    if config_cutoff:
        return pd.Timestamp(config_cutoff)
    if not available_dates:
        raise dg.Failure("price_features has no materialized partition; materialize it first.")
    return pd.Timestamp(available_dates[int(0.8 * (len(available_dates) - 1))])


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
        deps=[price_features],
        kinds={"tensorflow"},
        owners=OWNERS,
        description=f"{cell_type.upper()} network trained on features up to a cut-off; "
        "TensorFlow checkpoint plus JSON config under rnn_checkpoints/.",
    )
    def _checkpoint(
        context: dg.AssetExecutionContext,
        config: TrainingConfig,
        storage: StorageResource,
        compute: ComputeResource,
    ) -> dg.MaterializeResult:
        features_dir = storage.path("price_features")
        cutoff = resolve_cutoff(config.cutoff, partition_dates(features_dir))
        features = read_table(features_dir, end=cutoff)

        epoch_seconds: list[float] = []

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            epoch_seconds.append(metrics.get("seconds", 0.0))
            context.log.info(
                epoch_progress(cell_type, epoch, config.epochs, metrics, epoch_seconds)
            )

        ckpt = train_checkpoint(
            features,
            config.spec(cell_type),
            cutoff,
            storage.path("rnn_checkpoints"),
            device=compute.device,
            device_num=compute.device_num,
            strict_device=compute.strict_device,
            callback=log_epoch,
        )
        if ckpt.skipped_tickers:
            context.log.warning(
                f"{cell_type}: {len(ckpt.skipped_tickers)} ticker(s) have no training window, "
                f"their history being shorter than n_time_steps + forward_step: "
                f"{', '.join(ckpt.skipped_tickers[:10])}"
            )
        if compute.device == "gpu" and not ckpt.device_used.upper().startswith("/GPU"):
            context.log.warning(
                f"GPU {compute.device_num} was requested but is not available; {cell_type} "
                f"trained on {ckpt.device_used}. Set strict_device to fail instead."
            )
        return dg.MaterializeResult(
            metadata={
                "model_version": ckpt.version,
                "cutoff": ckpt.cutoff,
                "in_sample_end": ckpt.split_date,
                "scaling_fit_window": f"{ckpt.scaling.fit_start}..{ckpt.scaling.fit_end}",
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
                    ),
                    alt=f"{cell_type} loss and correlation per epoch",
                ),
                "device_used": ckpt.device_used,
                "path": dg.MetadataValue.path(ckpt.model_dir),
            }
        )

    return _checkpoint


checkpoint_assets = [build_checkpoint_asset(cell_type) for cell_type in CELL_TYPES]
