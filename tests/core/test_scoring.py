import math

import numpy as np
import pandas as pd
import pytest

from finrnn_core.errors import DataError
from finrnn_core.scoring import (
    SCORE_COLUMNS,
    score_day,
    score_predictions,
    spearman,
    summarize_scores,
)

D1, D2, D3 = pd.Timestamp("2018-01-02"), pd.Timestamp("2018-01-03"), pd.Timestamp("2018-01-04")
REALIZED = [0.01, 0.02, 0.10]
PEARSON_123_VS_1_2_10 = 27 / math.sqrt(876)  # worked by hand: cov 9, norms sqrt(2), sqrt(438)/3


def predictions() -> pd.DataFrame:
    rows = [
        # day 1, lstm (horizon 1): same order as realized, last one far off
        (D1, "A", "lstm", 0.01, REALIZED[0], 1),
        (D1, "B", "lstm", 0.02, REALIZED[1], 1),
        (D1, "C", "lstm", 0.03, REALIZED[2], 1),
        (D1, "D", "lstm", 0.05, np.nan, 1),  # not realized yet: not scored
        # day 1, gru (horizon 2): reversed order
        (D1, "A", "gru", 0.03, REALIZED[0], 2),
        (D1, "B", "gru", 0.02, REALIZED[1], 2),
        (D1, "C", "gru", 0.01, REALIZED[2], 2),
        # day 2, lstm: one sign right, one wrong
        (D2, "A", "lstm", 0.01, -0.02, 1),
        (D2, "B", "lstm", -0.01, -0.03, 1),
        # day 3: nothing realized, no score row
        (D3, "A", "lstm", 0.01, np.nan, 1),
    ]
    return pd.DataFrame(
        rows, columns=["date", "ticker", "model", "predicted", "realized", "forward_step"]
    )


def features() -> pd.DataFrame:
    rows = [
        (D1, "A", 0.0),
        (D1, "B", 0.01),
        (D1, "C", -0.02),
        (D1, "D", 0.0),
        (D2, "A", 0.0),
        (D2, "B", 0.0),
        (D3, "A", 0.0),
    ]
    return pd.DataFrame(rows, columns=["date", "ticker", "ret_1d"])


def by_key(scores: pd.DataFrame) -> dict:
    return {(row["date"], row["model"]): row for _, row in scores.iterrows()}


def test_spearman_is_pearson_of_ranks_with_mean_ranks_for_ties():
    assert spearman([1, 2, 3], [10, 100, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks [1, 2.5, 2.5] vs [1, 2, 3]: deviations [-1, .5, .5] and [-1, 0, 1]: 1.5 / sqrt(1.5 * 2)
    assert spearman([1, 5, 5], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1], [2]))


def test_score_predictions_one_row_per_realized_day_and_model_with_exact_values():
    scores = score_predictions(predictions(), features())
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert [(d, m) for d, m in zip(scores["date"], scores["model"], strict=True)] == [
        (D1, "gru"),
        (D1, "lstm"),
        (D2, "lstm"),
    ]
    rows = by_key(scores)

    lstm = rows[(D1, "lstm")]
    assert lstm["n_tickers"] == 3 and lstm["forward_step"] == 1
    assert lstm["ic"] == pytest.approx(PEARSON_123_VS_1_2_10)
    assert lstm["rank_ic"] == pytest.approx(1.0)
    assert lstm["hit_rate"] == pytest.approx(1.0)
    assert lstm["mae"] == pytest.approx(0.07 / 3)  # errors 0, 0, -0.07
    assert lstm["rmse"] == pytest.approx(0.07 / math.sqrt(3))
    assert lstm["mae_zero"] == pytest.approx(0.13 / 3)
    assert lstm["rmse_zero"] == pytest.approx(math.sqrt(0.0105 / 3))
    # persistence = ret_1d * 1 = [0, 0.01, -0.02]: errors -0.01, -0.01, -0.12
    assert lstm["mae_persistence"] == pytest.approx(0.14 / 3)
    assert lstm["rmse_persistence"] == pytest.approx(math.sqrt(0.0146 / 3))

    gru = rows[(D1, "gru")]
    assert gru["forward_step"] == 2
    assert gru["ic"] == pytest.approx(-PEARSON_123_VS_1_2_10)
    assert gru["rank_ic"] == pytest.approx(-1.0)
    assert gru["hit_rate"] == pytest.approx(1.0)
    # persistence scaled to the 2-day horizon: [0, 0.02, -0.04]; errors -0.01, 0, -0.14
    assert gru["mae_persistence"] == pytest.approx(0.05)
    assert gru["rmse_persistence"] == pytest.approx(math.sqrt(0.0197 / 3))

    day2 = rows[(D2, "lstm")]
    assert day2["n_tickers"] == 2
    assert day2["hit_rate"] == pytest.approx(0.5)
    assert day2["ic"] == pytest.approx(1.0) and day2["rank_ic"] == pytest.approx(1.0)
    assert day2["mae"] == pytest.approx(0.025)  # errors 0.03, 0.02
    assert day2["rmse_zero"] == pytest.approx(math.sqrt(0.00065))


def test_summary_pools_rows_over_days():
    summary = summarize_scores(score_predictions(predictions(), features()))
    lstm = summary["lstm"]
    assert lstm["days"] == 2
    assert lstm["mean_ic"] == pytest.approx((PEARSON_123_VS_1_2_10 + 1.0) / 2)
    assert lstm["mean_rank_ic"] == pytest.approx(1.0)
    assert lstm["hit_rate"] == pytest.approx((3 * 1.0 + 2 * 0.5) / 5)
    # squared errors: 0.0049 on day 1, 0.0009 + 0.0004 on day 2; zero: 0.0105 and 0.0004 + 0.0009
    assert lstm["rmse"] == pytest.approx(math.sqrt(0.0062 / 5))
    assert lstm["rmse_zero"] == pytest.approx(math.sqrt(0.0118 / 5))
    assert lstm["rmse_ratio_vs_zero"] == pytest.approx(math.sqrt(0.0062 / 0.0118))
    assert summary["gru"]["days"] == 1


def test_days_without_realized_values_give_an_empty_typed_table():
    frame = predictions()
    frame["realized"] = np.nan
    scores = score_predictions(frame, features())
    assert scores.empty and list(scores.columns) == list(SCORE_COLUMNS)
    assert summarize_scores(scores) == {}


def test_one_ticker_has_errors_but_no_correlation():
    scores = score_day([0.01], [-0.02], [0.0])
    assert scores["n_tickers"] == 1 and scores["hit_rate"] == 0.0
    assert scores["mae"] == pytest.approx(0.03)
    assert math.isnan(scores["ic"]) and math.isnan(scores["rank_ic"])
    empty = score_day([], [], [])
    assert empty["n_tickers"] == 0 and math.isnan(empty["rmse"])


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"same length. Received: 2, 1 and 2"):
        score_day([1.0, 2.0], [1.0], [0.0, 0.0])
    with pytest.raises(DataError, match=r"2 row\(s\) have none .* ticker 'C' on 2018-01-02"):
        score_predictions(predictions(), features().drop(index=2))
    mixed = predictions()
    mixed.loc[0, "forward_step"] = 5
    with pytest.raises(DataError, match=r"'lstm' on 2018-01-02 mix `forward_step` values \[1, 5\]"):
        score_predictions(mixed, features())
