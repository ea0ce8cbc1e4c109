"""Metadata the Dagster UI shows: column schemas, preview tables, inline charts and scores."""

from __future__ import annotations

import base64

import dagster as dg
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from finrnn_core.metrics import pearson
from finrnn_core.storage import TABLE_SCHEMAS

OWNERS = ["team:quant-ml"]
PREVIEW_ROWS = 10

# The `date` column lives in the hive folder name, not in the Parquet file; readers return it.
_DATE_DESCRIPTION = "Trading day (YYYY-MM-DD); the partition key, stored in the folder name."
_COLUMN_DESCRIPTIONS = {
    "ticker": "Instrument symbol as in the price file (or its file name).",
    "open": "Opening price.",
    "high": "Highest price of the day.",
    "low": "Lowest price of the day.",
    "close": "Closing price.",
    "adj_close": "Split/dividend-adjusted close; features and targets use it.",
    "volume": "Traded volume.",
    "source_file": "Price file the row was read from.",
    "row_number": "Line of the row in its source file.",
    "column": "Column that failed validation.",
    "raw_date": "The date cell as read (the partition holds weekend rows with the Friday before).",
    "raw_value": "The value as read.",
    "reason": "Why the row was rejected.",
    "ret_1d": "Log return over 1 trading day.",
    "ret_5d": "Log return over 5 trading days.",
    "ret_20d": "Log return over 20 trading days.",
    "vol_20d": "Standard deviation of daily log returns over 20 trading days.",
    "ma_gap_20d": "log(adj_close / 20-day moving average).",
    "model": "Model id (lstm, gru, rnn).",
    "predicted": "Predicted forward log return.",
    "realized": "Actual forward log return; empty until it is known.",
    "forward_step": "Target horizon in trading days.",
    "model_version": "<model>@<cutoff>#<weights hash> of the checkpoint that predicted.",
    "cutoff": "Cut-off date of that checkpoint.",
    "n_tickers": "Tickers scored: those with a prediction and a realized value that day.",
    "ic": "Information coefficient: Pearson correlation of predicted vs realized across tickers.",
    "rank_ic": "Rank IC: Spearman correlation of predicted vs realized across tickers.",
    "hit_rate": "Share of tickers whose predicted sign equals the realized sign.",
    "mae": "Mean absolute error of the model's predictions.",
    "rmse": "Root mean squared error of the model's predictions.",
    "mae_zero": "Mean absolute error of predicting a zero return.",
    "rmse_zero": "Root mean squared error of predicting a zero return.",
    "mae_persistence": "Mean absolute error of predicting ret_1d * forward_step (persistence).",
    "rmse_persistence": "Root mean squared error of predicting ret_1d * forward_step (persistence).",
}


def column_schema(table_name: str) -> dg.TableSchema:
    """The Dagster column schema of a stored table: `date` first, then its Parquet columns.

    Args:
        table_name: a key of `finrnn_core.storage.TABLE_SCHEMAS`, e.g. `"price_features"`.

    Returns:
        A `dg.TableSchema`, for the `dagster/column_schema` definition metadata.

    Raises:
        KeyError: `table_name` is not a stored table.
    """
    if table_name not in TABLE_SCHEMAS:
        raise KeyError(
            f"`table_name` must be one of {sorted(TABLE_SCHEMAS)}. Received: {table_name!r}"
        )
    columns = [dg.TableColumn("date", "date", description=_DATE_DESCRIPTION)]
    for arrow_field in TABLE_SCHEMAS[table_name]:
        columns.append(
            dg.TableColumn(
                arrow_field.name,
                _type_name(arrow_field.type),
                description=_COLUMN_DESCRIPTIONS.get(arrow_field.name),
            )
        )
    return dg.TableSchema(columns=columns)


def table_definition_metadata(table_name: str) -> dict[str, dg.TableSchema]:
    """Definition metadata for a table asset: its column schema."""
    return {"dagster/column_schema": column_schema(table_name)}


def _type_name(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_date(arrow_type):
        return "date"
    return str(arrow_type)  # float64, int64, int32


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """A markdown table of the first `rows` rows, dates as YYYY-MM-DD and floats to 4 significant digits."""
    head = frame.head(rows).copy()
    for name in head.columns:
        if pd.api.types.is_datetime64_any_dtype(head[name]):
            head[name] = head[name].dt.strftime("%Y-%m-%d")
    if head.empty:
        return dg.MetadataValue.md(f"*no rows* (columns: {', '.join(map(str, frame.columns))})")
    header = "| " + " | ".join(map(str, head.columns)) + " |"
    rule = "|" + "---|" * len(head.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in head.itertuples(index=False)]
    more = f"\n\n*first {len(head)} of {len(frame)} rows*" if len(frame) > len(head) else ""
    return dg.MetadataValue.md("\n".join([header, rule, *body]) + more)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def image(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG shown inline in the UI: markdown with an embedded `data:image/png;base64` image."""
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def hit_rate(predicted: npt.ArrayLike, realized: npt.ArrayLike) -> float:
    """Share of rows whose predicted sign equals the realized sign, over rows with a realized value.

    Args:
        predicted: predicted values, `(n,)`.
        realized: realized values, `(n,)`; `nan` where not yet known (those rows are left out).

    Returns:
        A share in `[0, 1]`, or `nan` when no row has a realized value.
    """
    p = np.asarray(predicted, dtype=np.float64).ravel()
    r = np.asarray(realized, dtype=np.float64).ravel()
    known = np.isfinite(r) & np.isfinite(p)
    if not known.any():
        return float("nan")
    return float(np.mean(np.sign(p[known]) == np.sign(r[known])))


def prediction_scores(frame: pd.DataFrame) -> dict[str, float]:
    """Correlation and hit rate of predicted against realized, per model and over all models.

    Only rows with a realized value count. Keys: `corr_<model>`, `hit_rate_<model>` for each
    model with such rows, and `hit_rate` over all of them (absent when there is none).
    """
    scored = frame.dropna(subset=["realized"])
    scores: dict[str, float] = {}
    for model_id, rows in scored.groupby("model"):
        scores[f"corr_{model_id}"] = pearson(rows["realized"], rows["predicted"])
        scores[f"hit_rate_{model_id}"] = hit_rate(rows["predicted"], rows["realized"])
    if len(scored):
        scores["hit_rate"] = hit_rate(scored["predicted"], scored["realized"])
    return scores
