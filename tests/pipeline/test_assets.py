import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from finrnn_core.errors import DataError
from finrnn_core.storage import read_table
from finrnn_core.training import list_checkpoints
from tests.pipeline.conftest import run_assets

INGEST = ["raw_prices", "price_quarantine"]


def test_ingest_a_range_in_one_run_writes_a_file_per_trading_day(tmp_path):
    result = run_assets(tmp_path, "2018-01-10", "2018-01-19", selection=INGEST)
    assert result.success
    assert (
        len(result.dagster_run.tags)
        and result.dagster_run.tags["dagster/asset_partition_range_end"] == "2018-01-19"
    )
    table = ds.dataset(tmp_path / "raw_prices", partitioning="hive").to_table().to_pandas()
    per_day = table.groupby("date").size().to_dict()
    # 2018-01-15 is Martin Luther King Day: a partition with a file and no rows
    assert (tmp_path / "raw_prices" / "date=2018-01-15" / "part-0.parquet").is_file()
    assert "2018-01-15" not in per_day
    assert set(per_day.values()) == {21}
    assert len(per_day) == 7
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["rows_read"].value == meta["rows_accepted"].value + meta["rows_quarantined"].value
    assert meta["rows_read"].value == 7 * 21


def test_quarantined_rows_land_in_their_own_table_and_counts_balance(tmp_path):
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "ABC.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2018-01-10,1,1,1,10,10,5\n"
        "2018-01-11,1,1,1,n/a,n/a,5\n"
        "2018-01-13,1,1,1,11,11,5\n"  # a Saturday
        "2018-01-16,1,1,1,0,0,5\n"
    )
    root = tmp_path / "store"
    result = run_assets(root, "2018-01-10", "2018-01-16", selection=INGEST, price_path=str(prices))
    assert result.success
    quarantine = read_table(root / "price_quarantine")
    assert sorted(quarantine["reason"]) == [
        "missing_price",
        "non_positive_price",
        "non_trading_day",
    ]
    saturday = quarantine[quarantine["reason"] == "non_trading_day"]
    assert saturday["date"].item() == pd.Timestamp("2018-01-12")  # stored with Friday's partition
    assert saturday["row_number"].item() == 4
    assert len(read_table(root / "raw_prices")) == 1
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }["raw_prices"]
    assert meta["rows_read"].value == 4
    assert meta["rows_accepted"].value == 1 and meta["rows_quarantined"].value == 3
    assert meta["quarantined_missing_price"].value == 1


def test_features_need_their_lookback_partitions_and_say_which(tmp_path):
    run_assets(tmp_path, "2018-03-01", "2018-03-09", selection=INGEST)
    with pytest.raises(
        DataError, match=r"raw_prices is not materialized for \d+ of the \d+ trading sessions"
    ):
        run_assets(tmp_path, "2018-03-08", "2018-03-09", selection="price_features")


def test_feature_partitions_are_the_same_built_one_by_one_or_as_a_range(tmp_path):
    one, many = tmp_path / "one", tmp_path / "many"
    for root in (one, many):
        assert run_assets(root, "2017-12-01", "2018-03-09", selection=INGEST).success
    assert run_assets(many, "2018-03-05", "2018-03-09", selection="price_features").success
    for day in ("2018-03-05", "2018-03-07", "2018-03-09"):
        assert run_assets(one, day, day, selection="price_features").success
    a = read_table(one / "price_features")
    b = read_table(many / "price_features", start="2018-03-05")
    b = b[b["date"].isin(a["date"])].reset_index(drop=True)
    assert len(a) == 3 * 21
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b)


def test_whole_chain_writes_checkpoints_and_predictions_after_the_cutoff(chain_root):
    checkpoints = list_checkpoints(chain_root / "rnn_checkpoints")
    assert sorted(c.model_id for c in checkpoints) == ["gru", "lstm", "rnn"]
    for ckpt in checkpoints:
        assert ckpt.cutoff == "2018-03-30"
        folder = chain_root / "rnn_checkpoints" / ckpt.model_id / "cutoff=2018-03-30"
        assert (folder / f"{ckpt.model_id}.config.json").is_file()
        assert (folder / "training.json").is_file()
        assert list(folder.glob(f"{ckpt.model_id}_latest.ckpt*"))

    table = ds.dataset(chain_root / "predictions", partitioning="hive").to_table().to_pandas()
    table["date"] = pd.to_datetime(table["date"])
    # nothing on or before the cut-off: no model existed before those days
    assert table["date"].min() == pd.Timestamp("2018-04-02")
    assert table["date"].max() == pd.Timestamp("2018-04-30")
    days = pd.bdate_range("2018-04-02", "2018-04-30")
    assert len(table) == len(days) * 21 * 3
    assert table.groupby(["date", "ticker", "model"]).size().max() == 1
    assert table["model_version"].str.match(r"^(lstm|gru|rnn)@2018-03-30#[0-9a-f]{10}$").all()
    assert np.isfinite(table["predicted"]).all()
    # realized is known for all but the last day (its next row is not in the store)
    last = table["date"] == table["date"].max()
    assert table.loc[~last, "realized"].notna().all()
    assert table.loc[last, "realized"].isna().all()


def test_realized_value_is_the_next_days_log_return(chain_root):
    predictions = read_table(chain_root / "predictions")
    prices = read_table(chain_root / "raw_prices")
    row = predictions[(predictions["ticker"] == "AAPL") & (predictions["model"] == "lstm")].iloc[0]
    aapl = prices[prices["ticker"] == "AAPL"].set_index("date")["adj_close"]
    position = aapl.index.get_loc(row["date"])
    expected = np.log(aapl.iloc[position + 1] / aapl.iloc[position])
    assert row["realized"] == pytest.approx(expected)
