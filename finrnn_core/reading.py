"""Filtered reads of the stored tables, for people and scripts rather than the pipeline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from finrnn_core.storage import TABLE_SCHEMAS, read_table

PREDICTIONS_TABLE = "predictions"


def read_predictions(
    root: str | Path,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    tickers: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read the `predictions` table under a storage root, filtered by date, ticker and model.

    Args:
        root: the storage root (the folder holding `predictions/`).
        start: first date (inclusive), or `None` for the first stored date.
        end: last date (inclusive), or `None` for the last stored date.
        tickers: keep only these tickers (exact match; one string is one ticker); `None` or
            empty keeps all.
        models: keep only these model ids (`lstm`, `gru`, `rnn`; one string is one model);
            `None` or empty keeps all.

    Returns:
        The rows sorted by date, model and ticker, with `date` first and then the columns of
        `TABLE_SCHEMAS["predictions"]`; `date` and `cutoff` are datetime64. A `predictions`
        folder with no partition written yet gives zero rows with these columns.

    Raises:
        DataError: `root` holds no `predictions` table.
    """
    frame = read_table(
        Path(root) / PREDICTIONS_TABLE,
        start=start,
        end=end,
        schema=TABLE_SCHEMAS[PREDICTIONS_TABLE],
    )
    # one name is one ticker or model, not a sequence of letters
    tickers = [tickers] if isinstance(tickers, str) else list(tickers or [])
    models = [models] if isinstance(models, str) else list(models or [])
    if tickers:
        frame = frame[frame["ticker"].isin(tickers)]
    if models:
        frame = frame[frame["model"].isin(models)]
    return frame.sort_values(["date", "model", "ticker"], kind="stable").reset_index(drop=True)
