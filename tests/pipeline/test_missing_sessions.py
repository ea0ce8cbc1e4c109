"""A day that was never materialized: harmless when it is a holiday, a clear failure when it is a
trading session that training or predictions would otherwise silently do without."""

import logging
import shutil

import dagster as dg
import pandas as pd
import pytest

from finrnn_core.storage import partition_dates, read_table
from tests.pipeline.conftest import run_assets, training_config

INGEST = ["raw_prices", "price_quarantine"]
LSTM_ONLY = {"ops": {"lstm_checkpoint": training_config()["ops"]["lstm_checkpoint"]}}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Prices 2018-03-01..2018-05-25 and features 2018-04-20..2018-05-25 of the sample."""
    root = tmp_path_factory.mktemp("built")
    assert run_assets(root, "2018-03-01", "2018-05-25", INGEST).success
    assert run_assets(root, "2018-04-20", "2018-05-25", ["price_features"]).success
    return root


@pytest.fixture
def store(built, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(built, root)
    return root


def test_a_holiday_never_materialized_does_not_block_the_sessions_after_it(store):
    # the daily schedule skips Memorial Day (2018-05-28), so its partitions are never written
    result = run_assets(store, "2018-05-29", "2018-05-29", [*INGEST, "price_features"])
    assert result.success
    assert "2018-05-28" not in partition_dates(store / "raw_prices")
    assert set(read_table(store / "price_features", "2018-05-29")["date"].astype(str)) == {
        "2018-05-29"
    }


def test_a_session_missing_from_the_lookback_still_fails_naming_it(store):
    shutil.rmtree(store / "raw_prices" / "date=2018-05-10")
    with pytest.raises(
        Exception,
        match=r"raw_prices is not materialized for 1 of the \d+ trading sessions this step "
        r"reads \(first: \['2018-05-10'\]\)",
    ):
        run_assets(store, "2018-05-25", "2018-05-25", ["price_features"])


@pytest.mark.parametrize(
    ("cutoff", "hole", "first_missing"),
    [
        ("2018-06-01", None, "2018-05-29"),  # the week before the cut-off was never built
        ("2018-05-25", "2018-05-10", "2018-05-10"),  # a hole inside the training window
    ],
)
def test_a_checkpoint_does_not_train_without_features_for_every_session_to_its_cutoff(
    store, cutoff, hole, first_missing
):
    if hole:
        shutil.rmtree(store / "price_features" / f"date={hole}")
    with pytest.raises(
        dg.Failure,
        match=rf"lstm@{cutoff}: DataError: price_features is not materialized for \d+ of the "
        rf"\d+ trading sessions up to cut-off {cutoff} \(first: \['{first_missing}'",
    ):
        run_assets(store, cutoff, cutoff, ["lstm_checkpoint"], run_config=LSTM_ONLY)
    assert not (store / "rnn_checkpoints" / "lstm" / f"cutoff={cutoff}").exists()


def test_predictions_refuse_a_window_or_horizon_with_a_session_missing(store):
    assert run_assets(
        store, "2018-05-18", "2018-05-18", ["lstm_checkpoint"], run_config=LSTM_ONLY
    ).success
    assert run_assets(store, "2018-05-21", "2018-05-25", ["predictions"]).success
    # a day inside the range: its neighbours' windows and realized returns would skip it
    shutil.rmtree(store / "price_features" / "date=2018-05-22")
    with pytest.raises(
        Exception,
        match=r"price_features is not materialized for 1 of the \d+ trading sessions in the "
        r"windows and horizons of 2018-05-21\.\.2018-05-21 \(first: \['2018-05-22'\]\)",
    ):
        run_assets(store, "2018-05-21", "2018-05-21", ["predictions"])


def test_predictions_check_exactly_the_sessions_their_windows_and_horizons_use(store, tmp_path):
    # the tiny lstm's window is 5 sessions: predicting 2018-05-25 reads 05-21..05-25
    assert run_assets(
        store, "2018-05-18", "2018-05-18", ["lstm_checkpoint"], run_config=LSTM_ONLY
    ).success

    def without(name, days):
        root = tmp_path / name
        shutil.copytree(store, root)
        for day in days:
            shutil.rmtree(root / "price_features" / f"date={day}")
        return root

    # a hole older than every window: not read, not required
    old_hole = without("old_hole", ["2018-05-02"])
    assert run_assets(old_hole, "2018-05-25", "2018-05-25", ["predictions"]).success
    assert len(read_table(old_hole / "predictions")) == 21

    # a gap covering the start of the window is a hole, not a short history
    gap = without(
        "gap", [d.strftime("%Y-%m-%d") for d in pd.bdate_range("2018-05-01", "2018-05-22")]
    )
    with pytest.raises(
        Exception,
        match=r"trading sessions in the windows and horizons of "
        r"2018-05-25\.\.2018-05-25 \(first: \['2018-05-21', '2018-05-22'\]\)",
    ):
        run_assets(gap, "2018-05-25", "2018-05-25", ["predictions"])

    # a session far past every stored day: its own features and window are missing
    with pytest.raises(
        Exception,
        match=r"price_features is not materialized for 5 of the 5 "
        r"trading sessions .* \(first: \['2018-07-26', '2018-07-27', '2018-07-30'\]\)",
    ):
        run_assets(store, "2018-08-01", "2018-08-01", ["predictions"])


def test_predictions_without_any_checkpoint_say_so(store):
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(store, "2018-05-21", "2018-05-25", ["predictions"], instance=instance)
    assert result.success
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING
    ]
    assert any("No checkpoint of any model is stored yet" in m for m in warnings)
    assert read_table(store / "predictions").empty
