import shutil

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from finrnn_core.storage import TABLE_SCHEMAS, read_table
from finrnn_pipeline.definitions import defs
from finrnn_pipeline.metadata import column_schema
from tests.pipeline.conftest import run_assets


@pytest.fixture
def store(chain_root, tmp_path):
    """A private copy of the chain output without any scores."""
    root = tmp_path / "store"
    shutil.copytree(chain_root, root)
    shutil.rmtree(root / "prediction_scores", ignore_errors=True)
    return root


def test_scores_asset_is_a_daily_single_run_table_in_the_evaluation_group():
    node = defs.resolve_asset_graph().get(dg.AssetKey("prediction_scores"))
    assert node.group_name == "evaluation"
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert node.partitions_def.get_partition_keys_in_range(
        dg.PartitionKeyRange("2018-01-12", "2018-01-16")
    ) == ["2018-01-12", "2018-01-15", "2018-01-16"]
    assert node.metadata["dagster/column_schema"] == column_schema("prediction_scores")
    assert [c.name for c in column_schema("prediction_scores").columns] == [
        "date",
        *TABLE_SCHEMAS["prediction_scores"].names,
    ]
    assert "team:quant-ml" in node.owners
    assert {k.to_user_string() for k in node.parent_keys} == {"predictions", "price_features"}


def test_scores_over_weeks_of_predictions_match_an_independent_computation(store):
    result = run_assets(store, "2018-04-02", "2018-04-30", selection="prediction_scores")
    assert result.success
    scores = read_table(store / "prediction_scores")
    # 2018-04-30 is predicted but its realized value needs features of 2018-05-01: no scores yet
    days = pd.bdate_range("2018-04-02", "2018-04-27")
    assert sorted(scores["date"].unique()) == list(days)
    assert len(scores) == len(days) * 3
    assert set(scores["model"]) == {"lstm", "gru", "rnn"}
    assert (scores["n_tickers"] == 21).all() and (scores["forward_step"] == 1).all()
    assert (scores[["rmse", "rmse_zero", "rmse_persistence"]] > 0).all().all()

    # one day and model, recomputed with pandas from the stored predictions and features
    day = pd.Timestamp("2018-04-17")
    preds = read_table(store / "predictions", day, day)
    preds = preds[preds["model"] == "gru"].set_index("ticker")
    feats = read_table(store / "price_features", day, day).set_index("ticker")
    row = scores[(scores["date"] == day) & (scores["model"] == "gru")].iloc[0]
    error = preds["predicted"] - preds["realized"]
    persistence_error = feats.loc[preds.index, "ret_1d"] - preds["realized"]
    assert row["ic"] == pytest.approx(preds["predicted"].corr(preds["realized"]))
    assert row["rank_ic"] == pytest.approx(preds["predicted"].rank().corr(preds["realized"].rank()))
    assert row["hit_rate"] == pytest.approx(
        (np.sign(preds["predicted"]) == np.sign(preds["realized"])).mean()
    )
    assert row["mae"] == pytest.approx(error.abs().mean())
    assert row["rmse"] == pytest.approx(np.sqrt((error**2).mean()))
    assert row["mae_zero"] == pytest.approx(preds["realized"].abs().mean())
    assert row["mae_persistence"] == pytest.approx(persistence_error.abs().mean())

    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }["prediction_scores"]
    assert meta["days_scored"].value == len(days)
    for model_id in ("lstm", "gru", "rnn"):
        ours = scores[scores["model"] == model_id]
        assert isinstance(meta[f"mean_ic_{model_id}"], dg.FloatMetadataValue)
        assert meta[f"mean_ic_{model_id}"].value == pytest.approx(ours["ic"].mean())
        assert meta[f"mean_rank_ic_{model_id}"].value == pytest.approx(ours["rank_ic"].mean())
        assert 0 <= meta[f"hit_rate_{model_id}"].value <= 1
        assert meta[f"rmse_ratio_vs_zero_{model_id}"].value > 0


def test_days_before_the_first_prediction_have_empty_score_partitions(store):
    assert run_assets(store, "2018-03-26", "2018-04-03", selection="prediction_scores").success
    scores = read_table(store / "prediction_scores")
    assert sorted(scores["date"].unique()) == list(pd.bdate_range("2018-04-02", "2018-04-03"))
    assert (store / "prediction_scores" / "date=2018-03-26" / "part-0.parquet").is_file()


def test_scores_need_their_predictions_and_say_which_dates_are_missing(store):
    shutil.rmtree(store / "predictions" / "date=2018-04-10")
    with pytest.raises(
        Exception, match=r"predictions is not materialized for 1 of the \d+ trading sessions"
    ):
        run_assets(store, "2018-04-02", "2018-04-13", selection="prediction_scores")
