import numpy as np
import pandas as pd
import pytest

from finrnn_core.errors import ConfigError, DataError
from finrnn_core.features import compute_features
from finrnn_core.prices import read_prices
from finrnn_core.windows import (
    add_targets,
    build_training_set,
    short_tickers,
    ticker_windows,
    windows_ending_on,
)

COLS = ("f",)


def tiny(n: int = 6, ticker: str = "A", start: str = "2021-03-01") -> pd.DataFrame:
    """Feature rows 0..n-1 with f = row number and prices 100, 110, 121, ... (10% a day)."""
    dates = pd.bdate_range(start, periods=n)
    return pd.DataFrame(
        {
            "date": dates,
            "ticker": ticker,
            "adj_close": 100.0 * 1.1 ** np.arange(n),
            "f": np.arange(n, dtype=float),
        }
    )


def test_window_count_first_last_and_target_alignment_by_hand():
    frame = tiny(6)
    (w,) = ticker_windows(frame, n_time_steps=3, forward_step=1, feature_columns=COLS)
    assert w.X.shape == (4, 3, 1)
    np.testing.assert_array_equal(w.X[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(w.X[-1, :, 0], [3, 4, 5])
    assert list(w.end_dates) == list(frame["date"].to_numpy()[2:])
    np.testing.assert_allclose(w.targets[:3], np.log(1.1))
    assert np.isnan(w.targets[3])  # row 6 does not exist yet
    assert list(w.target_dates[:3]) == list(frame["date"].to_numpy()[3:6])
    assert pd.isna(w.target_dates[3])


def test_forward_step_two_looks_two_rows_ahead():
    frame = tiny(6)
    (w,) = ticker_windows(frame, n_time_steps=2, forward_step=2, feature_columns=COLS)
    # windows end on rows 1..5; rows 1,2,3 have a target two rows later, rows 4,5 do not
    np.testing.assert_allclose(w.targets[:3], 2 * np.log(1.1))
    assert np.isnan(w.targets[3:]).all()
    assert w.target_dates[0] == frame["date"].iloc[3]


def test_windows_are_views_not_copies():
    (w,) = ticker_windows(tiny(50), n_time_steps=10, forward_step=1, feature_columns=COLS)
    assert not w.X.flags.owndata


def test_short_ticker_is_left_out_and_reported():
    frame = pd.concat([tiny(6, "A"), tiny(2, "B")], ignore_index=True)
    windows = ticker_windows(frame, n_time_steps=3, forward_step=1, feature_columns=COLS)
    assert [w.ticker for w in windows] == ["A"]
    assert short_tickers(frame, 3) == ["B"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"n_time_steps": 0, "forward_step": 1},
            r"`n_time_steps` must be an integer > 0. Received: n_time_steps=0",
        ),
        (
            {"n_time_steps": 3, "forward_step": 0},
            r"`forward_step` must be an integer > 0. Received: forward_step=0",
        ),
    ],
)
def test_bad_sizes_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ticker_windows(tiny(), feature_columns=COLS, **kwargs)


def test_missing_feature_column_and_nan_feature_are_data_errors():
    with pytest.raises(DataError, match=r"Feature columns \['g'\] missing"):
        ticker_windows(tiny(), 3, 1, feature_columns=("g",))
    frame = tiny()
    frame.loc[2, "f"] = np.nan
    with pytest.raises(DataError, match=r"NaN feature for ticker 'A' on 2021-03-03"):
        ticker_windows(frame, 3, 1, feature_columns=COLS)


def test_add_targets_is_per_ticker():
    frame = pd.concat([tiny(3, "A"), tiny(3, "B")], ignore_index=True)
    out = add_targets(frame, 1)
    assert out.groupby("ticker")["target"].apply(lambda s: s.isna().sum()).to_dict() == {
        "A": 1,
        "B": 1,
    }


def test_training_set_respects_cutoff_embargo_and_split():
    frame = tiny(40)
    cutoff = frame["date"].iloc[30]
    ts = build_training_set(frame, 5, 2, cutoff, in_sample_fraction=0.5, feature_columns=COLS)
    (windows, index, n_is) = ts.batches[0]
    ends = windows.end_dates[index]
    targets_at = windows.target_dates[index]
    # every target realized on or before the cut-off
    assert (targets_at <= np.datetime64(cutoff)).all()
    # in-sample targets realized on or before the split date; out-of-sample windows end after it
    split = np.datetime64(ts.split_date)
    assert (targets_at[:n_is] <= split).all()
    assert (ends[n_is:] > split).all()
    # windows ending on rows 4..28 are eligible (target two rows later <= row 30): 25 windows;
    # the two whose window ends on/before the split but whose target lands after are dropped
    assert ts.n_in_sample + ts.n_out_of_sample == 25 - 2
    # scaling fitted on rows up to the split date only
    assert ts.scaling.fit_end == f"{ts.split_date:%Y-%m-%d}"
    expected_mean = frame.loc[frame["date"] <= ts.split_date, "f"].mean()
    assert ts.scaling.feature_mean[0] == pytest.approx(expected_mean)


def test_training_set_feeder_gives_scaled_batches_in_sample_first(sample_dir):
    features = compute_features(read_prices(sample_dir).prices)
    ts = build_training_set(features, 20, 1, "2018-06-29")
    batches = list(ts.feeder()())
    assert len(batches) == 21
    X, y, y_mean, y_std, n_is = batches[0]
    assert X.dtype == np.float32 and X.shape[1:] == (20, 5)
    assert y.shape == (X.shape[0], 1)
    assert 0 < n_is < X.shape[0]
    assert sum(b[4] for b in batches) == ts.n_in_sample
    assert sum(len(b[0]) for b in batches) == ts.n_windows


def test_no_eligible_window_names_the_cutoff():
    with pytest.raises(DataError, match=r"cutoff 2021-03-01"):
        build_training_set(tiny(6), 3, 1, "2021-03-01", feature_columns=COLS)


def test_windows_ending_on_uses_only_rows_up_to_the_date():
    frame = pd.concat([tiny(6, "A"), tiny(4, "B")], ignore_index=True)
    day = frame["date"].iloc[3]
    tickers, X = windows_ending_on(frame, day, 3, feature_columns=COLS)
    assert tickers == ["A", "B"]
    np.testing.assert_array_equal(X[:, :, 0], [[1, 2, 3], [1, 2, 3]])
    tickers, X = windows_ending_on(frame, frame["date"].iloc[5], 3, feature_columns=COLS)
    assert tickers == ["A"]  # B has no row on that date


def test_ticker_shorter_than_the_window_is_skipped_and_reported(tmp_path):
    from finrnn_core.training import TrainingSpec, train_checkpoint

    long_one = tiny(60, "A")
    short_one = tiny(8, "B")
    features = pd.concat([long_one, short_one], ignore_index=True)
    features = features.rename(columns={"f": "ret_1d"})
    for name in ("ret_5d", "ret_20d", "vol_20d", "ma_gap_20d"):
        features[name] = features["ret_1d"] * 0.5
    spec = TrainingSpec(cell_type="rnn", epochs=1, n_states=2, n_layers=1, n_time_steps=10)
    ckpt = train_checkpoint(features, spec, features["date"].max(), tmp_path)
    assert ckpt.tickers == ["A"]
    assert ckpt.skipped_tickers == ["B"]
