"""Predictions: each trading day scored by the newest checkpoint trained before it."""

import dagster as dg
import pandas as pd

from finrnn_core.plots import predicted_vs_realized_png
from finrnn_core.predictions import predict_dates
from finrnn_core.storage import partition_dates as stored_dates
from finrnn_core.storage import read_table
from finrnn_core.training import list_checkpoints
from finrnn_pipeline.assets.features import price_features
from finrnn_pipeline.assets.models import checkpoint_assets
from finrnn_pipeline.io_managers import require_sessions
from finrnn_pipeline.metadata import (
    OWNERS,
    image,
    prediction_scores,
    preview,
    table_definition_metadata,
)
from finrnn_pipeline.partitions import date_bounds, partition_dates, trading_days
from finrnn_pipeline.resources import ComputeResource, PriceSourceResource, StorageResource


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="parquet_io_manager",
    group_name="predictions",
    kinds={"parquet"},
    owners=OWNERS,
    metadata=table_definition_metadata("predictions"),
    # Day d is predicted by each model's newest cut-off strictly before d (the shifted mapping
    # picks exactly that weekly partition); the step itself re-checks it on the stored files.
    deps=[
        price_features,
        *(
            dg.AssetDep(
                ckpt,
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
                ),
            )
            for ckpt in checkpoint_assets
        ),
    ],
)
def predictions(
    context: dg.AssetExecutionContext,
    storage: StorageResource,
    compute: ComputeResource,
    price_source: PriceSourceResource,
) -> pd.DataFrame:
    """Predicted forward return per (date, ticker, model) with model version and realized value; a partition is one trading day."""
    start, end = date_bounds(context)
    checkpoints = list_checkpoints(storage.path("rnn_checkpoints"))
    if not checkpoints:
        context.log.warning(
            "No checkpoint of any model is stored yet: every date of this run gets no rows. "
            "Materialize the *_checkpoint assets (retraining_job) first."
        )
    longest = max((c.n_time_steps for c in checkpoints), default=1)
    horizon = max((c.forward_step for c in checkpoints), default=1)
    # Calendar days that surely hold the window before `start` and the realized rows after `end`.
    first, last = (
        start - pd.Timedelta(days=2 * longest + 14),
        end + pd.Timedelta(days=2 * horizon + 14),
    )
    table = storage.path("price_features")
    stored = stored_dates(table)
    require_sessions(
        table,
        _sessions_used(price_source.sessions(first, last), start, end, longest, horizon, stored),
        f"in the windows and horizons of {start:%Y-%m-%d}..{end:%Y-%m-%d}",
        stored,
    )
    features = read_table(table, start=first, end=last)
    frame, report = predict_dates(
        features, checkpoints, partition_dates(context), device=compute.device
    )
    frame = frame[(frame["date"] >= start) & (frame["date"] <= end)]
    for model_id, days in report.dates_without_model.items():
        context.log.info(
            f"{model_id}: no checkpoint with cut-off before {len(days)} date(s) (first {days[0]}); those dates get no {model_id} rows."
        )
    for model_id, missing in report.tickers_without_window.items():
        if missing:
            context.log.warning(
                f"{model_id}: {missing} (date, ticker) row(s) have features but fewer feature "
                "rows before them than the model's window (a short history); no prediction."
            )
    picture = image(
        predicted_vs_realized_png(
            frame["predicted"],
            frame["realized"],
            frame["model"],
            title=f"{start:%Y-%m-%d}..{end:%Y-%m-%d}",
        ),
        alt="predicted vs realized forward log return, per model",
    )
    keys = context.partition_keys
    if len(keys) > 1:
        # A ranged run's output metadata is stored once per partition: the ~50 KB picture
        # would be copied into every day's event (40 MB of run history for the demo's range).
        # It is logged once, as an observation of the range's last day.
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key,
                partition=keys[-1],
                metadata={"predicted_vs_realized": picture, "dates": f"{keys[0]}..{keys[-1]}"},
            )
        )
        picture = dg.MetadataValue.text(
            f"one picture for {keys[0]}..{keys[-1]}: the observation of partition {keys[-1]}"
        )
    context.add_output_metadata(
        {
            "rows": len(frame),
            "rows_without_window": sum(report.tickers_without_window.values()),
            "dates_with_rows": frame["date"].nunique(),
            "models": ", ".join(sorted(frame["model"].unique())) if len(frame) else "none",
            "model_versions": ", ".join(sorted(set(report.versions_used))) or "none",
            "rows_with_realized": int(frame["realized"].notna().sum()),
            **prediction_scores(frame),
            "predicted_vs_realized": picture,
            "preview": preview(frame),
        }
    )
    return frame


def _sessions_used(
    sessions: pd.DatetimeIndex,
    start: pd.Timestamp,
    end: pd.Timestamp,
    longest: int,
    horizon: int,
    stored: list[str],
) -> pd.DatetimeIndex:
    """The sessions whose features predicting ``start..end`` reads: each predicted session, the
    ``longest - 1`` before it (its window) and the ``horizon`` after it (its realized value).

    A missing one would silently shorten a window or stretch a realized return over two days.
    Sessions before the table's first stored day are a short history (reported per row), and
    those after both ``end`` and its last stored day are the future, not yet known.
    """
    days = sessions[(sessions >= start) & (sessions <= end)]
    if not len(days) or not stored:
        return days
    first_i, last_i = sessions.get_loc(days[0]), sessions.get_loc(days[-1])
    used = sessions[max(first_i - longest + 1, 0) : last_i + horizon + 1]
    known_until = max(end, pd.Timestamp(stored[-1]))
    return used[(used >= pd.Timestamp(stored[0])) & (used <= known_until)]
