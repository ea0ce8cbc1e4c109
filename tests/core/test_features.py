import numpy as np
import pandas as pd
import pytest

from finrnn_core.features import FEATURE_COLUMNS, FEATURE_LOOKBACK, compute_features
from finrnn_core.prices import read_prices
from tests.helpers import make_prices


def test_first_row_comes_after_lookback_and_values_match_hand_computation():
    closes = [100.0 * 1.01**i for i in range(30)]
    features = compute_features(make_prices({"A": closes}))
    assert len(features) == 30 - FEATURE_LOOKBACK
    first = features.iloc[0]
    assert first["date"] == pd.bdate_range("2020-01-06", periods=30)[FEATURE_LOOKBACK]
    assert first["ret_1d"] == pytest.approx(np.log(1.01))
    assert first["ret_5d"] == pytest.approx(5 * np.log(1.01))
    assert first["ret_20d"] == pytest.approx(20 * np.log(1.01))
    assert first["vol_20d"] == pytest.approx(0.0, abs=1e-12)
    expected_gap = np.log(closes[20]) - np.log(np.mean(closes[1:21]))
    assert first["ma_gap_20d"] == pytest.approx(expected_gap)


def test_tickers_do_not_leak_into_each_other():
    rng = np.random.default_rng(0)
    a = list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 40))))
    b = list(50 * np.exp(np.cumsum(rng.normal(0, 0.02, 40))))
    both = compute_features(make_prices({"A": a, "B": b}))
    alone = compute_features(make_prices({"B": b}))
    pd.testing.assert_frame_equal(
        both[both["ticker"] == "B"].reset_index(drop=True), alone.reset_index(drop=True)
    )


def test_features_at_d_unchanged_when_later_prices_are_altered(sample_dir):
    prices = read_prices(sample_dir).prices
    cut = pd.Timestamp("2017-06-30")
    altered = prices.copy()
    later = altered["date"] > cut
    altered.loc[later, "adj_close"] = altered.loc[later, "adj_close"] * 3.0 + 7.0
    base = compute_features(prices)
    changed = compute_features(altered)
    upto = lambda f: f[f["date"] <= cut].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(upto(base), upto(changed))
    # the alteration did reach later rows, so the comparison above could have failed
    after_base = base[base["date"] > cut]["ma_gap_20d"].to_numpy()
    after_changed = changed[changed["date"] > cut]["ma_gap_20d"].to_numpy()
    assert not np.allclose(after_base, after_changed)


def test_features_do_not_depend_on_how_much_earlier_history_is_loaded(sample_dir):
    prices = read_prices(sample_dir).prices
    full = compute_features(prices)
    day = pd.Timestamp("2018-03-01")
    recent = prices[prices["date"] >= day - pd.Timedelta(days=45)]
    short = compute_features(recent)
    pick = lambda f: f[f["date"] == day].reset_index(drop=True)  # noqa: E731
    assert len(pick(full)) == 21
    pd.testing.assert_frame_equal(pick(full), pick(short))


def test_feature_columns_have_no_nan_on_real_data(sample_dir):
    features = compute_features(read_prices(sample_dir).prices)
    assert not features[list(FEATURE_COLUMNS)].isna().any().any()
