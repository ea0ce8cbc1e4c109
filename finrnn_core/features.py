"""Causal per-ticker features from daily prices.

Every feature on date ``d`` is computed from a fixed number of the ticker's most recent prices at
or before ``d`` (trailing windows only, no expanding statistics), so the value for ``d`` does not
depend on any later price, nor on how much earlier history was loaded, once
:data:`FEATURE_LOOKBACK` prior prices are there. Features are scale-free (log returns and ratios);
model-level standardisation is fitted on the training window only (see :mod:`finrnn_core.windows`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_COLUMNS: tuple[str, ...] = ("ret_1d", "ret_5d", "ret_20d", "vol_20d", "ma_gap_20d")
"""Model inputs, in order. ``ret_kd``: log return over k rows; ``vol_20d``: std of ``ret_1d``
over 20 rows; ``ma_gap_20d``: log of price over its 20-row moving average."""

FEATURE_LOOKBACK = 20
"""Prices a ticker needs before its first complete feature row (``ret_20d`` needs 21 prices)."""


def compute_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Compute :data:`FEATURE_COLUMNS` for every (date, ticker) with enough history.

    Args:
        prices: long price table with ``date``, ``ticker`` and ``adj_close`` (one row per
            date and ticker, any order).

    Returns:
        ``date, ticker, adj_close`` and the feature columns, sorted by ticker then date. The first
        :data:`FEATURE_LOOKBACK` rows of each ticker (incomplete windows) are left out.

    Example:
        Prices ``[100, 101, ...]`` for one ticker give ``ret_1d`` on the second day of
        ``log(101 / 100)``; the first row appears only from the 21st price on.
    """
    frame = prices[["date", "ticker", "adj_close"]].sort_values(["ticker", "date"], kind="stable")
    frame = frame.reset_index(drop=True)
    log_price = np.log(frame["adj_close"].to_numpy(dtype=float))
    by_ticker = pd.Series(log_price).groupby(frame["ticker"].to_numpy(), sort=False)

    ret_1d = by_ticker.diff(1)
    frame["ret_1d"] = ret_1d.to_numpy()
    frame["ret_5d"] = by_ticker.diff(5).to_numpy()
    frame["ret_20d"] = by_ticker.diff(20).to_numpy()
    frame["vol_20d"] = (
        ret_1d.groupby(frame["ticker"].to_numpy(), sort=False)
        .rolling(20, min_periods=20)
        .std()
        .reset_index(level=0, drop=True)
        .sort_index()
        .to_numpy()
    )
    mean_20 = (
        pd.Series(frame["adj_close"].to_numpy(dtype=float))
        .groupby(frame["ticker"].to_numpy(), sort=False)
        .rolling(20, min_periods=20)
        .mean()
        .reset_index(level=0, drop=True)
        .sort_index()
    )
    frame["ma_gap_20d"] = log_price - np.log(mean_20.to_numpy())

    position = frame.groupby("ticker", sort=False).cumcount().to_numpy()
    complete = position >= FEATURE_LOOKBACK
    return frame.loc[complete].reset_index(drop=True)
