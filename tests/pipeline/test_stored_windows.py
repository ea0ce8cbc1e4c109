"""`finrnn_core.stored_window` reads any (date, ticker) window straight from the stored feature
table, and it is exactly what a checkpoint's training batches held."""

import numpy as np
import pandas as pd
import pytest

from finrnn_core import DataError, stored_window
from finrnn_core.storage import read_table
from finrnn_core.training import list_checkpoints
from finrnn_core.windows import build_training_set


def test_every_training_window_of_a_checkpoint_is_the_stored_window_of_its_date(chain_root):
    features_dir = chain_root / "price_features"
    ckpt = next(c for c in list_checkpoints(chain_root / "rnn_checkpoints") if c.model_id == "gru")
    # what the training step built at that cut-off, from what was stored then
    training = build_training_set(
        read_table(features_dir, end=ckpt.cutoff),
        ckpt.n_time_steps,
        ckpt.forward_step,
        ckpt.cutoff,
        ckpt.spec["in_sample_fraction"],
    )
    assert training.scaling == ckpt.scaling  # the scaling stored with the checkpoint
    checked = 0
    for (windows, index, _), (X, y, *_rest) in zip(
        training.batches, training.feeder()(), strict=True
    ):
        for row in (0, len(index) // 2, len(index) - 1):  # first, middle and last window
            date = pd.Timestamp(windows.end_dates[index[row]])
            got_X, got_y = stored_window(
                features_dir,
                date,
                windows.ticker,
                ckpt.n_time_steps,
                ckpt.forward_step,
                scaling=ckpt.scaling,
            )
            assert got_X.shape == (ckpt.n_time_steps, len(ckpt.feature_columns))
            np.testing.assert_array_equal(got_X, X[row])
            assert np.float32(got_y) == y[row, 0]
            checked += 1
    assert checked == 3 * len(training.batches) > 0


def test_raw_window_rows_and_target_by_hand(chain_root):
    features_dir = chain_root / "price_features"
    table = read_table(features_dir, tickers=["AAPL"])
    day = table["date"].iloc[30]
    X, target = stored_window(features_dir, day, "AAPL", n_time_steps=4, forward_step=2)
    expected = table[["ret_1d", "ret_5d", "ret_20d", "vol_20d", "ma_gap_20d"]].to_numpy()[27:31]
    np.testing.assert_array_equal(X, expected.astype(np.float32))
    prices = table["adj_close"].to_numpy()
    assert target == pytest.approx(np.log(prices[32] / prices[30]), rel=1e-12)
    last = table["date"].iloc[-1]
    assert np.isnan(stored_window(features_dir, last, "AAPL", 4, forward_step=2)[1])


def test_no_window_is_a_clear_error(chain_root):
    features_dir = chain_root / "price_features"
    first = read_table(features_dir, tickers=["AAPL"])["date"].iloc[1]
    with pytest.raises(DataError, match=r"'AAPL' ending on .*: 2 row\(s\) up to it, fewer than"):
        stored_window(features_dir, first, "AAPL", n_time_steps=5)
    with pytest.raises(DataError, match=r"'AAPL' ending on 2018-01-06 .*no feature row that day"):
        stored_window(features_dir, "2018-01-06", "AAPL", n_time_steps=5)  # a Saturday
    with pytest.raises(DataError, match=r"'NOPE' ending on"):
        stored_window(features_dir, "2018-01-05", "NOPE", n_time_steps=5)
