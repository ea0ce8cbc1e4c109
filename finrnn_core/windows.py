"""Sliding windows over the feature table, forward-return targets, and the training set.

Index arithmetic, for one ticker whose feature rows are ``0 .. N-1`` (consecutive trading days of
that ticker), with ``T = n_time_steps`` and ``h = forward_step``:

* window ``k`` holds rows ``k .. k+T-1``; it *ends* on row ``e = k+T-1`` and its date is row
  ``e``'s date;
* its target is ``log(adj_close[e+h] / adj_close[e])``, realized on row ``e+h``'s date (the
  *target date*); it is NaN while row ``e+h`` does not exist yet.

So with ``N = 6, T = 3, h = 1`` there are 4 windows, ending on rows 2, 3, 4, 5; the last one has no
target yet. Windows are numpy views (no copies) until a training batch is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from finrnn_core.errors import ConfigError, DataError
from finrnn_core.features import FEATURE_COLUMNS
from finrnn_core.storage import read_table

Batch = tuple[np.ndarray, np.ndarray, float, float, int]


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"`{name}` must be an integer > 0. Received: {name}={value!r}")


def add_targets(features: pd.DataFrame, forward_step: int) -> pd.DataFrame:
    """Add ``target`` (the ``forward_step``-row-ahead log return) and ``target_date`` per ticker.

    Args:
        features: feature table with ``date``, ``ticker``, ``adj_close``.
        forward_step: how many of the ticker's rows ahead the target looks, > 0.

    Returns:
        A copy sorted by ticker then date, with ``target`` (NaN where not yet realized) and
        ``target_date`` (NaT there).
    """
    _check_positive("forward_step", forward_step)
    frame = features.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    grouped = frame.groupby("ticker", sort=False)
    future_price = grouped["adj_close"].shift(-forward_step)
    frame["target"] = np.log(
        future_price.to_numpy(dtype=float) / frame["adj_close"].to_numpy(dtype=float)
    )
    frame["target_date"] = grouped["date"].shift(-forward_step)
    return frame


@dataclass
class TickerWindows:
    """All windows of one ticker.

    Attributes:
        ticker: the ticker.
        X: `(n_windows, n_time_steps, n_features)` read-only view of the feature rows.
        end_dates: `(n_windows,)` date of each window's last row.
        targets: `(n_windows,)` forward log return, NaN when not yet realized.
        target_dates: `(n_windows,)` date the target is realized, NaT when not yet.
    """

    ticker: str
    X: np.ndarray
    end_dates: np.ndarray
    targets: np.ndarray
    target_dates: np.ndarray


def ticker_windows(
    features: pd.DataFrame,
    n_time_steps: int,
    forward_step: int,
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS,
) -> list[TickerWindows]:
    """Cut every ticker's feature rows into windows of ``n_time_steps`` rows.

    Args:
        features: feature table (``date``, ``ticker``, ``adj_close`` and ``feature_columns``).
        n_time_steps: rows per window, > 0.
        forward_step: target horizon in rows, > 0.
        feature_columns: the model inputs, in order.

    Returns:
        One :class:`TickerWindows` per ticker that has at least ``n_time_steps`` rows, sorted by
        ticker. Tickers with fewer rows are left out (see :func:`short_tickers`).

    Raises:
        DataError: a feature column is missing or holds NaN.
    """
    _check_positive("n_time_steps", n_time_steps)
    missing = [c for c in feature_columns if c not in features.columns]
    if missing:
        raise DataError(f"Feature columns {missing} missing. Found: {list(features.columns)}")
    frame = add_targets(features, forward_step)
    out = []
    for ticker, rows in frame.groupby("ticker", sort=True):
        if len(rows) < n_time_steps:
            continue
        values = rows[list(feature_columns)].to_numpy(dtype=np.float32)
        if np.isnan(values).any():
            bad = rows.loc[np.isnan(values).any(axis=1), "date"].iloc[0]
            raise DataError(f"NaN feature for ticker {ticker!r} on {bad:%Y-%m-%d}.")
        view = np.lib.stride_tricks.sliding_window_view(values, n_time_steps, axis=0)
        X = view.transpose(0, 2, 1)  # (n_windows, n_time_steps, n_features), still a view
        last = slice(n_time_steps - 1, None)
        out.append(
            TickerWindows(
                ticker=str(ticker),
                X=X,
                end_dates=rows["date"].to_numpy()[last],
                targets=rows["target"].to_numpy(dtype=float)[last],
                target_dates=rows["target_date"].to_numpy()[last],
            )
        )
    return out


def short_tickers(features: pd.DataFrame, n_time_steps: int) -> list[str]:
    """Return tickers with fewer than ``n_time_steps`` feature rows (no window fits)."""
    counts = features.groupby("ticker").size()
    return sorted(str(t) for t in counts[counts < n_time_steps].index)


@dataclass(frozen=True)
class Scaling:
    """Standardisation fitted on the in-sample training window only.

    Attributes:
        feature_mean: per-feature mean over feature rows dated on or before ``fit_end``.
        feature_std: per-feature standard deviation over the same rows.
        target_mean: mean of the in-sample targets.
        target_std: standard deviation of the in-sample targets.
        fit_start: first date of the fit window (``YYYY-MM-DD``).
        fit_end: last date of the fit window (``YYYY-MM-DD``).
    """

    feature_mean: tuple[float, ...]
    feature_std: tuple[float, ...]
    target_mean: float
    target_std: float
    fit_start: str
    fit_end: str

    def scale_X(self, X: np.ndarray) -> np.ndarray:
        """Return a standardised float32 copy of `(..., n_features)` inputs."""
        mean = np.asarray(self.feature_mean, dtype=np.float32)
        std = np.asarray(self.feature_std, dtype=np.float32)
        return ((X - mean) / std).astype(np.float32)

    def unscale_y(self, y: np.ndarray) -> np.ndarray:
        """Map standardised targets back to log returns."""
        return np.asarray(y, dtype=float) * self.target_std + self.target_mean

    def to_dict(self) -> dict:
        return {
            "feature_mean": list(self.feature_mean),
            "feature_std": list(self.feature_std),
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "fit_start": self.fit_start,
            "fit_end": self.fit_end,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Scaling:
        return cls(
            feature_mean=tuple(float(v) for v in data["feature_mean"]),
            feature_std=tuple(float(v) for v in data["feature_std"]),
            target_mean=float(data["target_mean"]),
            target_std=float(data["target_std"]),
            fit_start=str(data["fit_start"]),
            fit_end=str(data["fit_end"]),
        )


@dataclass
class TrainingSet:
    """Windows eligible for training at a cut-off, split in time into in- and out-of-sample.

    Only windows whose target is realized on or before ``cutoff`` are used. In-sample windows have
    targets realized on or before ``split_date``; out-of-sample windows end after it. Windows that
    end on or before ``split_date`` but whose target lands after it are dropped (the
    ``forward_step`` embargo), so in-sample targets never overlap the out-of-sample period.
    """

    batches: list[tuple[TickerWindows, np.ndarray, int]]
    scaling: Scaling
    cutoff: pd.Timestamp
    split_date: pd.Timestamp
    n_in_sample: int
    n_out_of_sample: int

    @property
    def n_windows(self) -> int:
        return self.n_in_sample + self.n_out_of_sample

    @property
    def tickers(self) -> list[str]:
        return [w.ticker for w, _, _ in self.batches]

    def feeder(self) -> Callable[[], Iterator[Batch]]:
        """Return a data feeder for ``RecurrentModel.train``: one batch per ticker.

        Each batch is ``(X, y, y_mean, y_std, in_sample_size)`` with standardised
        `(samples, n_time_steps, n_features)` inputs and `(samples, 1)` targets, the in-sample rows
        first. Only one batch is copied out of the windows at a time.
        """

        def feed() -> Iterator[Batch]:
            s = self.scaling
            for windows, index, n_is in self.batches:
                X = s.scale_X(windows.X[index])
                y = ((windows.targets[index] - s.target_mean) / s.target_std).astype(np.float32)
                yield X, y.reshape(-1, 1), s.target_mean, s.target_std, n_is

        return feed


def build_training_set(
    features: pd.DataFrame,
    n_time_steps: int,
    forward_step: int,
    cutoff: str | pd.Timestamp,
    in_sample_fraction: float = 0.8,
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS,
) -> TrainingSet:
    """Select the windows a model trained at ``cutoff`` may see, and fit the scaling on them.

    Args:
        features: feature table (see :func:`finrnn_core.features.compute_features`).
        n_time_steps: rows per window.
        forward_step: target horizon in rows.
        cutoff: last date on which a training target may be realized.
        in_sample_fraction: share of eligible window end dates (pooled over tickers, in time order)
            that are in-sample, in ``(0, 1]``.
        feature_columns: the model inputs, in order.

    Returns:
        The :class:`TrainingSet`.

    Raises:
        ConfigError: ``in_sample_fraction`` is out of range.
        DataError: no window is eligible at ``cutoff``.
    """
    if not 0 < in_sample_fraction <= 1:
        raise ConfigError(
            "`in_sample_fraction` must be in (0, 1]. "
            f"Received: in_sample_fraction={in_sample_fraction!r}"
        )
    cutoff_ts = pd.Timestamp(cutoff)
    all_windows = ticker_windows(features, n_time_steps, forward_step, feature_columns)
    eligible = []
    for w in all_windows:
        ok = ~pd.isna(w.target_dates)
        ok[ok] = w.target_dates[ok] <= np.datetime64(cutoff_ts)
        if ok.any():
            eligible.append((w, np.flatnonzero(ok)))
    if features.empty:
        raise DataError(
            f"No feature rows on or before cutoff {cutoff_ts:%Y-%m-%d}: the price source holds "
            "no usable prices before that date, or price_features was not materialized for it."
        )
    if not eligible:
        raise DataError(
            f"No training window has a target realized on or before cutoff {cutoff_ts:%Y-%m-%d} "
            f"(n_time_steps={n_time_steps}, forward_step={forward_step}, "
            f"{features['ticker'].nunique()} tickers, feature dates "
            f"{_date_range(features)})."
        )
    end_dates = np.sort(np.concatenate([w.end_dates[idx] for w, idx in eligible]))
    split = pd.Timestamp(end_dates[max(0, int(np.ceil(in_sample_fraction * len(end_dates))) - 1)])
    split64 = np.datetime64(split)

    batches = []
    n_is = n_oos = 0
    in_sample_targets = []
    for w, idx in eligible:
        is_idx = idx[w.target_dates[idx] <= split64]
        oos_idx = idx[w.end_dates[idx] > split64]
        if len(is_idx) == 0:
            continue
        batches.append((w, np.concatenate([is_idx, oos_idx]), len(is_idx)))
        in_sample_targets.append(w.targets[is_idx])
        n_is += len(is_idx)
        n_oos += len(oos_idx)
    if not batches:
        raise DataError(
            f"No in-sample window before split date {split:%Y-%m-%d} at cutoff {cutoff_ts:%Y-%m-%d}."
        )

    fit_rows = features[features["date"] <= split]
    fit_values = fit_rows[list(feature_columns)].to_numpy(dtype=float)
    targets = np.concatenate(in_sample_targets)
    feature_std = fit_values.std(axis=0)
    scaling = Scaling(
        feature_mean=tuple(float(v) for v in fit_values.mean(axis=0)),
        feature_std=tuple(float(v) if v > 0 else 1.0 for v in feature_std),
        target_mean=float(targets.mean()),
        target_std=float(targets.std()) if targets.std() > 0 else 1.0,
        fit_start=f"{fit_rows['date'].min():%Y-%m-%d}",
        fit_end=f"{split:%Y-%m-%d}",
    )
    return TrainingSet(
        batches=batches,
        scaling=scaling,
        cutoff=cutoff_ts,
        split_date=split,
        n_in_sample=n_is,
        n_out_of_sample=n_oos,
    )


def windows_ending_on(
    features: pd.DataFrame,
    date: str | pd.Timestamp,
    n_time_steps: int,
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS,
) -> tuple[list[str], np.ndarray]:
    """Return the window ending on ``date`` for every ticker that has a feature row that day.

    Only rows dated on or before ``date`` are looked at.

    Args:
        features: feature table.
        date: the window end date.
        n_time_steps: rows per window.
        feature_columns: the model inputs, in order.

    Returns:
        ``(tickers, X)`` with X `(len(tickers), n_time_steps, n_features)`; tickers with fewer than
        ``n_time_steps`` rows up to ``date`` are left out.
    """
    _check_positive("n_time_steps", n_time_steps)
    day = pd.Timestamp(date)
    past = features[features["date"] <= day].sort_values(["ticker", "date"], kind="stable")
    tickers, blocks = [], []
    for ticker, rows in past.groupby("ticker", sort=True):
        if rows["date"].iloc[-1] != day or len(rows) < n_time_steps:
            continue
        tickers.append(str(ticker))
        blocks.append(rows[list(feature_columns)].to_numpy(dtype=np.float32)[-n_time_steps:])
    if not blocks:
        return [], np.zeros((0, n_time_steps, len(feature_columns)), dtype=np.float32)
    return tickers, np.stack(blocks)


def stored_window(
    features_dir: str | Path,
    date: str | pd.Timestamp,
    ticker: str,
    n_time_steps: int,
    forward_step: int = 1,
    scaling: Scaling | None = None,
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS,
) -> tuple[np.ndarray, float]:
    """Return the window of ``ticker`` ending on ``date`` and its target, read from Parquet.

    The rows come straight from the stored ``price_features`` table and are cut by the same
    code training uses (:func:`ticker_windows`), so with a checkpoint's ``scaling`` the result
    is exactly the standardised input and target that checkpoint's training batches held.

    Example, with ``n_time_steps=3, forward_step=1`` and the ticker's stored rows dated
    ``d0 < d1 < d2 < d3``: ``stored_window(dir, d2, t, 3)`` is rows ``d0, d1, d2`` and the
    target ``log(adj_close[d3] / adj_close[d2])``; for ``d3`` the target is NaN (not yet
    realized) and for ``d1`` there is no window (two rows only).

    Args:
        features_dir: the ``price_features`` table folder (``<root>/price_features``).
        date: the window's last trading day.
        ticker: the ticker, as stored.
        n_time_steps: rows per window, > 0.
        forward_step: target horizon in rows, > 0. Defaults to 1.
        scaling: a checkpoint's :class:`Scaling` (``TrainedCheckpoint.scaling``) to
            standardise the window and target as training did; ``None`` returns raw values.
        feature_columns: the model inputs, in order. Defaults to ``FEATURE_COLUMNS``.

    Returns:
        ``(X, target)``: float32 `(n_time_steps, n_features)` and the forward log return
        (standardised when ``scaling`` is given), NaN while it is not realized.

    Raises:
        DataError: the table is missing, the ticker has no feature row on ``date``, or fewer
            than ``n_time_steps`` rows up to it.
    """
    _check_positive("n_time_steps", n_time_steps)
    _check_positive("forward_step", forward_step)
    day = pd.Timestamp(date)
    rows = read_table(features_dir, tickers=[ticker])
    found = ticker_windows(rows, n_time_steps, forward_step, feature_columns)
    hits = np.flatnonzero(found[0].end_dates == np.datetime64(day)) if found else []
    if len(hits) == 0:
        on_day = int((rows["date"] == day).sum())
        upto = int((rows["date"] <= day).sum())
        raise DataError(
            f"No window for ticker {ticker!r} ending on {day:%Y-%m-%d} in {str(features_dir)!r}: "
            + (
                "no feature row that day."
                if not on_day
                else f"{upto} row(s) up to it, fewer than n_time_steps={n_time_steps}."
            )
        )
    windows, k = found[0], int(hits[0])
    X, target = np.array(windows.X[k], dtype=np.float32), float(windows.targets[k])
    if scaling is None:
        return X, target
    scaled_target = np.float32((target - scaling.target_mean) / scaling.target_std)
    return scaling.scale_X(X), float(scaled_target)


def _date_range(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "none"
    return f"{frame['date'].min():%Y-%m-%d}..{frame['date'].max():%Y-%m-%d}"
