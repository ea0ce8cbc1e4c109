"""Predict trading days with the newest checkpoint trained strictly before each day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from finrnn_core.training import TrainedCheckpoint
from finrnn_core.windows import ticker_windows

PREDICTION_COLUMNS = (
    "date",
    "ticker",
    "model",
    "predicted",
    "realized",
    "forward_step",
    "model_version",
    "cutoff",
)


@dataclass
class PredictionReport:
    """What a prediction step did, beside the rows it made."""

    rows: int = 0
    dates_without_model: dict[str, list[str]] = field(default_factory=dict)
    tickers_without_window: dict[str, int] = field(default_factory=dict)
    versions_used: list[str] = field(default_factory=list)


def choose_checkpoint(
    checkpoints: Iterable[TrainedCheckpoint], date: str | pd.Timestamp
) -> TrainedCheckpoint | None:
    """The checkpoint with the latest cut-off strictly before ``date``, or None."""
    day = pd.Timestamp(date)
    eligible = [c for c in checkpoints if pd.Timestamp(c.cutoff) < day]
    return max(eligible, key=lambda c: c.cutoff) if eligible else None


def predict_dates(
    features: pd.DataFrame,
    checkpoints: list[TrainedCheckpoint],
    dates: Iterable[str],
    **model_overrides: Any,
) -> tuple[pd.DataFrame, PredictionReport]:
    """Predict every (date, ticker) for every model id, each date with its own checkpoint.

    A date ``d`` is predicted by the checkpoint of each model id whose cut-off is the latest one
    strictly before ``d``, from the window of feature rows ending on ``d``. ``realized`` is the
    target when ``features`` already holds the row ``forward_step`` rows after ``d``, else NaN;
    it is never an input.

    Args:
        features: feature table covering the windows (``n_time_steps`` rows before each date)
            and, for ``realized``, the rows after.
        checkpoints: the checkpoints to choose from (any model ids and cut-offs).
        dates: the dates to predict, ``YYYY-MM-DD``.
        **model_overrides: passed to :meth:`TrainedCheckpoint.load_model` (e.g. ``device``).

    Returns:
        The rows (:data:`PREDICTION_COLUMNS`) and a :class:`PredictionReport`.
    """
    wanted = [pd.Timestamp(d) for d in dates]
    by_model: dict[str, list[TrainedCheckpoint]] = defaultdict(list)
    for ckpt in checkpoints:
        by_model[ckpt.model_id].append(ckpt)

    report = PredictionReport()
    frames = []
    for model_id, candidates in sorted(by_model.items()):
        assignment: dict[str, list[pd.Timestamp]] = defaultdict(list)
        for day in wanted:
            chosen = choose_checkpoint(candidates, day)
            if chosen is None:
                report.dates_without_model.setdefault(model_id, []).append(f"{day:%Y-%m-%d}")
            else:
                assignment[chosen.cutoff].append(day)
        for cutoff, days in sorted(assignment.items()):
            ckpt = next(c for c in candidates if c.cutoff == cutoff)
            frame, missing = _predict_with(ckpt, features, days, model_overrides)
            report.tickers_without_window[model_id] = (
                report.tickers_without_window.get(model_id, 0) + missing
            )
            report.versions_used.append(ckpt.version)
            frames.append(frame)
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in PREDICTION_COLUMNS})
        out["date"] = pd.Series(dtype="datetime64[ns]")
    out = out.sort_values(["date", "model", "ticker"], kind="stable").reset_index(drop=True)
    report.rows = len(out)
    return out, report


def _predict_with(
    ckpt: TrainedCheckpoint,
    features: pd.DataFrame,
    days: list[pd.Timestamp],
    model_overrides: dict[str, Any],
) -> tuple[pd.DataFrame, int]:
    """Predict ``days`` with one checkpoint; also count (day, ticker) rows without a full window."""
    day_set = np.array(days, dtype="datetime64[ns]")
    windows = ticker_windows(
        features, ckpt.n_time_steps, ckpt.forward_step, tuple(ckpt.feature_columns)
    )
    blocks, rows = [], []
    for w in windows:
        pick = np.isin(w.end_dates, day_set)
        if not pick.any():
            continue
        blocks.append(w.X[pick])
        rows.append(
            pd.DataFrame(
                {"date": w.end_dates[pick], "ticker": w.ticker, "realized": w.targets[pick]}
            )
        )
    present = features[features["date"].isin(day_set)]
    expected = len(present)
    if not blocks:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS)), expected
    X = ckpt.scaling.scale_X(np.concatenate(blocks))
    model = ckpt.load_model(**model_overrides)
    predicted = ckpt.scaling.unscale_y(model.predict(batch_X=X)[:, 0])
    frame = pd.concat(rows, ignore_index=True)
    frame["predicted"] = predicted
    frame["model"] = ckpt.model_id
    frame["forward_step"] = ckpt.forward_step
    frame["model_version"] = ckpt.version
    frame["cutoff"] = pd.Timestamp(ckpt.cutoff)
    return frame[list(PREDICTION_COLUMNS)], expected - len(frame)
