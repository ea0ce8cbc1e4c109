"""Daily cross-sectional scores of predictions against realized returns and naive baselines.

For each trading day *d* and each model, only the predictions of *d* whose ``realized`` value is
known are scored. Two baselines are scored on the same rows:

* **zero**: predict a forward log return of 0 (no change);
* **persistence**: predict that the last realized 1-day log return (``ret_1d`` of the feature
  table on *d*, known at the close of *d*) repeats every day of the horizon, i.e.
  ``ret_1d * forward_step``.

numpy and pandas only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from finrnn_core.errors import DataError
from finrnn_core.metrics import pearson

SCORE_COLUMNS = (
    "date",
    "model",
    "forward_step",
    "n_tickers",
    "ic",
    "rank_ic",
    "hit_rate",
    "mae",
    "rmse",
    "mae_zero",
    "rmse_zero",
    "mae_persistence",
    "rmse_persistence",
)
"""Columns of :func:`score_predictions`' result, in order."""


def spearman(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Spearman rank correlation: the Pearson correlation of the ranks (ties get their mean rank).

    Args:
        a: values, `(n,)`.
        b: values, `(n,)`.

    Returns:
        The correlation in `[-1, 1]`, or `nan` with fewer than two points or constant ranks.

    Example:
        `spearman([1, 2, 3], [10, 100, 1000]) == 1.0` although the Pearson correlation is not 1.
    """
    ranks_a = pd.Series(np.asarray(a, dtype=np.float64).ravel()).rank(method="average")
    ranks_b = pd.Series(np.asarray(b, dtype=np.float64).ravel()).rank(method="average")
    return pearson(ranks_a.to_numpy(), ranks_b.to_numpy())


def score_day(
    predicted: npt.ArrayLike, realized: npt.ArrayLike, persistence: npt.ArrayLike
) -> dict[str, float]:
    """Scores of one model on one day, across tickers.

    Args:
        predicted: the model's predicted forward log returns, `(n_tickers,)`.
        realized: the realized forward log returns, `(n_tickers,)`, all known.
        persistence: the persistence baseline's predictions, `(n_tickers,)`.

    Returns:
        `n_tickers`; `ic` (Pearson of predicted vs realized) and `rank_ic` (Spearman), `nan` for
        fewer than two tickers or a constant series; `hit_rate` (share of tickers whose predicted
        sign equals the realized sign); `mae`, `rmse` of the model; `mae_zero`, `rmse_zero` of
        predicting 0; `mae_persistence`, `rmse_persistence` of the persistence baseline. Every
        value is `nan` (and `n_tickers` 0) when there are no tickers.

    Raises:
        ValueError: the three inputs differ in length.
    """
    p = np.asarray(predicted, dtype=np.float64).ravel()
    r = np.asarray(realized, dtype=np.float64).ravel()
    q = np.asarray(persistence, dtype=np.float64).ravel()
    if not p.size == r.size == q.size:
        raise ValueError(
            "`predicted`, `realized` and `persistence` must have the same length. "
            f"Received: {p.size}, {r.size} and {q.size}"
        )
    if p.size == 0:
        nan = float("nan")
        return {"n_tickers": 0, **{c: nan for c in SCORE_COLUMNS[4:]}}
    return {
        "n_tickers": int(p.size),
        "ic": pearson(p, r),
        "rank_ic": spearman(p, r),
        "hit_rate": float(np.mean(np.sign(p) == np.sign(r))),
        "mae": _mae(p, r),
        "rmse": _rmse(p, r),
        "mae_zero": _mae(np.zeros_like(r), r),
        "rmse_zero": _rmse(np.zeros_like(r), r),
        "mae_persistence": _mae(q, r),
        "rmse_persistence": _rmse(q, r),
    }


def score_predictions(predictions: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Score every (date, model) of a prediction table whose rows have a realized value.

    Args:
        predictions: rows with `date, ticker, model, predicted, realized, forward_step` (the
            `predictions` table); rows whose `realized` is missing are left out.
        features: rows with `date, ticker, ret_1d` covering every scored (date, ticker) (the
            `price_features` table), for the persistence baseline.

    Returns:
        One row per (date, model) with at least one realized value, columns
        :data:`SCORE_COLUMNS`, sorted by date then model. A day with no realized value (the
        newest days, whose horizon has not passed) has no row.

    Raises:
        DataError: a scored (date, ticker) has no `ret_1d` in `features`, or one (date, model)
            mixes several `forward_step` values.

    Example:
        A day with predictions `[0.01, -0.02]`, realized `[0.02, -0.01]`, `ret_1d`
        `[0.005, 0.0]` and `forward_step=1` scores `hit_rate=1.0`, `mae=0.01`,
        `mae_zero=0.015` and `mae_persistence=0.0125`.
    """
    scored = predictions.dropna(subset=["realized"])
    if scored.empty:
        return _empty_scores()
    last_return = features[["date", "ticker", "ret_1d"]].drop_duplicates(["date", "ticker"])
    scored = scored.merge(last_return, on=["date", "ticker"], how="left", validate="many_to_one")
    lacking = scored[scored["ret_1d"].isna()]
    if len(lacking):
        first = lacking.iloc[0]
        raise DataError(
            f"The persistence baseline needs `ret_1d` of every scored (date, ticker); "
            f"{len(lacking)} row(s) have none in the features, the first being ticker "
            f"{first['ticker']!r} on {first['date']:%Y-%m-%d}."
        )
    rows = []
    for (day, model_id), group in scored.groupby(["date", "model"], sort=True):
        steps = group["forward_step"].unique()
        if len(steps) != 1:
            raise DataError(
                f"Predictions of model {model_id!r} on {day:%Y-%m-%d} mix `forward_step` "
                f"values {sorted(steps.tolist())}; one day's scores need one horizon."
            )
        step = int(steps[0])
        persistence = group["ret_1d"].to_numpy(dtype=np.float64) * step
        scores = score_day(group["predicted"], group["realized"], persistence)
        rows.append({"date": day, "model": model_id, "forward_step": step, **scores})
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def summarize_scores(scores: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Summary of daily scores per model, over all the days in `scores`.

    Args:
        scores: rows of :func:`score_predictions`.

    Returns:
        `{model: {...}}` with `mean_ic` and `mean_rank_ic` (means over days, ignoring days
        whose IC is `nan`), `hit_rate` (pooled over every scored row, i.e. the daily hit rates
        weighted by `n_tickers`), `rmse` and `rmse_zero` (pooled over every scored row) and
        `rmse_ratio_vs_zero` (`rmse / rmse_zero`; below 1 means the model beats predicting 0),
        and `days`, the number of scored days.
    """
    summary: dict[str, dict[str, float]] = {}
    for model_id, group in scores.groupby("model", sort=True):
        weights = group["n_tickers"].to_numpy(dtype=np.float64)
        total = weights.sum()
        rmse = float(np.sqrt(np.sum(group["rmse"].to_numpy() ** 2 * weights) / total))
        rmse_zero = float(np.sqrt(np.sum(group["rmse_zero"].to_numpy() ** 2 * weights) / total))
        summary[str(model_id)] = {
            "days": int(len(group)),
            "mean_ic": _nanmean(group["ic"]),
            "mean_rank_ic": _nanmean(group["rank_ic"]),
            "hit_rate": float(np.sum(group["hit_rate"].to_numpy() * weights) / total),
            "rmse": rmse,
            "rmse_zero": rmse_zero,
            "rmse_ratio_vs_zero": rmse / rmse_zero if rmse_zero > 0 else float("nan"),
        }
    return summary


def _mae(predicted: np.ndarray, realized: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - realized)))


def _rmse(predicted: np.ndarray, realized: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - realized) ** 2)))


def _nanmean(values: pd.Series) -> float:
    known = values.dropna()
    return float(known.mean()) if len(known) else float("nan")


def _empty_scores() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in SCORE_COLUMNS})
    frame["date"] = pd.Series(dtype="datetime64[ns]")
    frame["model"] = pd.Series(dtype=object)
    frame["forward_step"] = pd.Series(dtype=np.int64)
    frame["n_tickers"] = pd.Series(dtype=np.int64)
    return frame
