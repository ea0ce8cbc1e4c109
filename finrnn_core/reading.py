"""Filtered reads of the stored tables, for people and scripts rather than the pipeline."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from finrnn_core.storage import TABLE_SCHEMAS, read_table

PREDICTIONS_TABLE = "predictions"


def model_ids(models: str | Iterable[str] | None) -> list[str]:
    """The stored model ids that `models` names: lower case, so `LSTM` is `lstm`.

    Args:
        models: model names in any case (`LSTM`, `Gru`); one string is one model; `None` is none.

    Returns:
        The names in lower case, in the order given.
    """
    # one name is one model, not a sequence of letters
    names = [models] if isinstance(models, str) else list(models or [])
    return [name.lower() for name in names]


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
        models: keep only these model ids (`lstm`, `gru`, `rnn`, in any case: `LSTM` is
            `lstm`; one string is one model); `None` or empty keeps all. A model the table does
            not hold matches no rows, as a ticker does.

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
    # one name is one ticker, not a sequence of letters
    tickers = [tickers] if isinstance(tickers, str) else list(tickers or [])
    models = model_ids(models)
    if tickers:
        frame = frame[frame["ticker"].isin(tickers)]
    if models:
        frame = frame[frame["model"].isin(models)]
    return frame.sort_values(["date", "model", "ticker"], kind="stable").reset_index(drop=True)
