"""Asset checks on what is stored: finite numbers, complete predictions, no lookahead.

The daily assets are materialized in ranges, so each check reads the whole stored table (or every
checkpoint) rather than one partition: the result describes the store after the latest
materialization. The lookahead checks are blocking: when one fails, nothing downstream of its
asset runs in that run.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from finrnn_core.features import FEATURE_COLUMNS
from finrnn_core.storage import read_table
from finrnn_core.training import CELL_TYPES, list_checkpoints
from finrnn_pipeline.resources import StorageResource

MAX_LISTED = 10  # offending rows named in a check's metadata


def _rows(frame: pd.DataFrame, columns: list[str]) -> dg.MetadataValue:
    head = frame[columns].head(MAX_LISTED).copy()
    for name in head.columns:
        if pd.api.types.is_datetime64_any_dtype(head[name]):
            head[name] = head[name].dt.strftime("%Y-%m-%d")
    return dg.MetadataValue.json(head.map(str).to_dict(orient="records"))


def _non_finite(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    values = frame[columns].to_numpy(dtype=np.float64)
    return pd.Series(~np.isfinite(values).all(axis=1), index=frame.index)


@dg.asset_check(
    asset="price_features",
    description="Every stored feature value (and adj_close) is a finite number: no NaN, no inf.",
)
def check_price_features_finite(storage: StorageResource) -> dg.AssetCheckResult:
    columns = ["adj_close", *FEATURE_COLUMNS]
    features = read_table(storage.path("price_features"), columns=["ticker", *columns])
    bad = features[_non_finite(features, columns)]
    return dg.AssetCheckResult(
        passed=bad.empty,
        metadata={
            "rows_checked": len(features),
            "rows_not_finite": len(bad),
            "first_rows_not_finite": _rows(bad, ["date", "ticker", *columns]),
        },
    )


@dg.asset_check(
    asset="predictions",
    description="Every stored prediction (the predicted column) is a finite number.",
)
def check_predictions_finite(storage: StorageResource) -> dg.AssetCheckResult:
    frame = read_table(storage.path("predictions"), columns=["ticker", "model", "predicted"])
    bad = frame[_non_finite(frame, ["predicted"])]
    return dg.AssetCheckResult(
        passed=bad.empty,
        metadata={
            "rows_checked": len(frame),
            "rows_not_finite": len(bad),
            "first_rows_not_finite": _rows(bad, ["date", "ticker", "model", "predicted"]),
        },
    )


@dg.asset_check(
    asset="predictions",
    description="On every day with predictions, each model present that day predicted each "
    "ticker present that day exactly once: no (ticker, model) row is missing or doubled.",
)
def check_predictions_complete(storage: StorageResource) -> dg.AssetCheckResult:
    frame = read_table(storage.path("predictions"), columns=["ticker", "model"])
    counts = frame.groupby(["date", "ticker", "model"]).size()
    doubled = counts[counts > 1].reset_index()[["date", "ticker", "model"]]
    missing = []
    for day, rows in frame.groupby("date", sort=True):
        grid = pd.MultiIndex.from_product(
            [sorted(rows["ticker"].unique()), sorted(rows["model"].unique())],
            names=["ticker", "model"],
        )
        present = pd.MultiIndex.from_frame(rows[["ticker", "model"]])
        for ticker, model_id in grid.difference(present):
            missing.append({"date": day, "ticker": ticker, "model": model_id})
    missing_frame = pd.DataFrame(missing, columns=["date", "ticker", "model"])
    return dg.AssetCheckResult(
        passed=missing_frame.empty and doubled.empty,
        metadata={
            "days_checked": frame["date"].nunique(),
            "rows_missing": len(missing_frame),
            "rows_doubled": len(doubled),
            "first_missing": _rows(missing_frame, ["date", "ticker", "model"]),
            "first_doubled": _rows(doubled, ["date", "ticker", "model"]),
        },
    )


@dg.asset_check(
    asset="predictions",
    blocking=True,
    description="Every prediction was made by a checkpoint whose cut-off is strictly before the "
    "predicted day (no lookahead).",
)
def check_predictions_cutoff_before_date(storage: StorageResource) -> dg.AssetCheckResult:
    frame = read_table(storage.path("predictions"), columns=["ticker", "model", "cutoff"])
    cutoff = pd.to_datetime(frame["cutoff"])
    bad = frame[~(cutoff < frame["date"])]  # a missing cut-off fails too
    return dg.AssetCheckResult(
        passed=bad.empty,
        metadata={
            "rows_checked": len(frame),
            "rows_cutoff_not_before_date": len(bad),
            "first_rows": _rows(bad, ["date", "ticker", "model", "cutoff"]),
        },
    )


def build_scaling_check(cell_type: str) -> dg.AssetChecksDefinition:
    """The check that every `cell_type` checkpoint fitted its normalisation on or before its cut-off."""

    @dg.asset_check(
        name="check_scaling_fit_before_cutoff",
        asset=f"{cell_type}_checkpoint",
        blocking=True,
        description="In every stored checkpoint's training.json, the normalisation fit window "
        "ends on or before the checkpoint's cut-off (no lookahead in the scaling).",
    )
    def _check(storage: StorageResource) -> dg.AssetCheckResult:
        checkpoints = [
            c for c in list_checkpoints(storage.path("rnn_checkpoints")) if c.model_id == cell_type
        ]
        late = [
            {"model_version": c.version, "cutoff": c.cutoff, "fit_end": c.scaling.fit_end}
            for c in checkpoints
            if not pd.Timestamp(c.scaling.fit_end) <= pd.Timestamp(c.cutoff)
        ]
        return dg.AssetCheckResult(
            passed=bool(checkpoints) and not late,
            description=None if checkpoints else f"No {cell_type} checkpoint is stored.",
            metadata={
                "checkpoints_checked": len(checkpoints),
                "checkpoints_fit_after_cutoff": len(late),
                "first_fit_after_cutoff": dg.MetadataValue.json(late[:MAX_LISTED]),
            },
        )

    return _check


scaling_checks = [build_scaling_check(cell_type) for cell_type in CELL_TYPES]

ALL_CHECKS = [
    check_price_features_finite,
    check_predictions_finite,
    check_predictions_complete,
    check_predictions_cutoff_before_date,
    *scaling_checks,
]
