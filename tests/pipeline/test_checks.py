import json
import shutil

import dagster as dg
import numpy as np
import pytest

from finrnn_core.storage import TABLE_SCHEMAS, read_table, write_partition
from finrnn_pipeline.checks import (
    ALL_CHECKS,
    check_predictions_complete,
    check_predictions_cutoff_before_date,
    check_predictions_finite,
    check_price_features_finite,
    scaling_checks,
)
from finrnn_pipeline.definitions import ALL_ASSETS, build_resources, defs


@pytest.fixture
def store(chain_root, tmp_path):
    """A private copy of the chain output that a test may break."""
    root = tmp_path / "store"
    shutil.copytree(chain_root, root)
    return root


def run_checks(root, *checks) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Run only the given checks against the store, as Dagster runs them."""
    result = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS],
        selection=dg.AssetSelection.checks(*checks),
        resources=build_resources(str(root)),
        raise_on_error=False,
    )
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def rewrite(root, table, day, change):
    """Replace one stored partition with `change(rows)`."""
    rows = read_table(root / table, day, day)
    write_partition(root / table, day, change(rows), TABLE_SCHEMAS[table])


def test_checks_are_registered_and_the_lookahead_ones_block():
    graph = defs.resolve_asset_graph()
    specs = {
        (key.asset_key.to_user_string(), key.name): graph.get_check_spec(key)
        for key in graph.asset_check_keys
        if key.name.startswith("check_")
    }
    assert set(specs) == {
        ("price_features", "check_price_features_finite"),
        ("predictions", "check_predictions_finite"),
        ("predictions", "check_predictions_complete"),
        ("predictions", "check_predictions_cutoff_before_date"),
        ("lstm_checkpoint", "check_scaling_fit_before_cutoff"),
        ("gru_checkpoint", "check_scaling_fit_before_cutoff"),
        ("rnn_checkpoint", "check_scaling_fit_before_cutoff"),
    }
    blocking = {key for key, spec in specs.items() if spec.blocking}
    assert blocking == {
        ("predictions", "check_predictions_cutoff_before_date"),
        ("lstm_checkpoint", "check_scaling_fit_before_cutoff"),
        ("gru_checkpoint", "check_scaling_fit_before_cutoff"),
        ("rnn_checkpoint", "check_scaling_fit_before_cutoff"),
    }


def test_every_check_passes_on_the_chain_output(store):
    evaluations = run_checks(store, *ALL_CHECKS)
    assert len(evaluations) == 7
    assert all(e.passed for e in evaluations.values()), {
        k: e.metadata for k, e in evaluations.items() if not e.passed
    }
    features = evaluations[("price_features", "check_price_features_finite")]
    assert features.metadata["rows_checked"].value == len(read_table(store / "price_features"))
    complete = evaluations[("predictions", "check_predictions_complete")]
    assert complete.metadata["days_checked"].value == 21  # 2018-04-02..2018-04-30


def test_a_nan_feature_fails_the_finite_check(store):
    def spoil(rows):
        rows.loc[rows["ticker"] == "AAPL", "vol_20d"] = np.nan
        return rows

    rewrite(store, "price_features", "2018-02-14", spoil)
    result = run_checks(store, check_price_features_finite)
    evaluation = result[("price_features", "check_price_features_finite")]
    assert not evaluation.passed
    assert evaluation.metadata["rows_not_finite"].value == 1
    [bad] = evaluation.metadata["first_rows_not_finite"].value
    assert bad["ticker"] == "AAPL" and bad["date"] == "2018-02-14" and bad["vol_20d"] == "nan"


def test_an_infinite_prediction_fails_the_finite_check(store):
    def spoil(rows):
        rows.loc[rows.index[:2], "predicted"] = [np.inf, -np.inf]
        return rows

    rewrite(store, "predictions", "2018-04-11", spoil)
    evaluation = run_checks(store, check_predictions_finite)[
        ("predictions", "check_predictions_finite")
    ]
    assert not evaluation.passed and evaluation.metadata["rows_not_finite"].value == 2


def test_a_missing_or_doubled_prediction_fails_the_completeness_check(store):
    rewrite(
        store,
        "predictions",
        "2018-04-11",
        lambda rows: rows[~((rows["ticker"] == "MSFT") & (rows["model"] == "gru"))],
    )
    evaluation = run_checks(store, check_predictions_complete)[
        ("predictions", "check_predictions_complete")
    ]
    assert not evaluation.passed
    assert evaluation.metadata["rows_missing"].value == 1
    assert evaluation.metadata["first_missing"].value == [
        {"date": "2018-04-11", "ticker": "MSFT", "model": "gru"}
    ]

    rewrite(store, "predictions", "2018-04-11", lambda rows: rows.iloc[[*range(len(rows)), 0]])
    evaluation = run_checks(store, check_predictions_complete)[
        ("predictions", "check_predictions_complete")
    ]
    assert not evaluation.passed
    assert evaluation.metadata["rows_missing"].value == 1
    assert evaluation.metadata["rows_doubled"].value == 1


def test_a_cutoff_on_the_predicted_day_fails_the_blocking_lookahead_check(store):
    def spoil(rows):
        rows.loc[rows.index[0], "cutoff"] = rows.loc[rows.index[0], "date"]
        return rows

    rewrite(store, "predictions", "2018-04-05", spoil)
    evaluation = run_checks(store, check_predictions_cutoff_before_date)[
        ("predictions", "check_predictions_cutoff_before_date")
    ]
    assert not evaluation.passed
    assert evaluation.metadata["rows_cutoff_not_before_date"].value == 1
    assert evaluation.metadata["first_rows"].value[0]["cutoff"] == "2018-04-05"


def test_a_scaling_fit_after_the_cutoff_fails_that_models_check_only(store):
    path = store / "rnn_checkpoints" / "lstm" / "cutoff=2018-03-30" / "training.json"
    data = json.loads(path.read_text())
    data["scaling"]["fit_end"] = "2018-03-31"
    path.write_text(json.dumps(data))
    evaluations = run_checks(store, *scaling_checks)
    assert not evaluations[("lstm_checkpoint", "check_scaling_fit_before_cutoff")].passed
    lstm = evaluations[("lstm_checkpoint", "check_scaling_fit_before_cutoff")].metadata
    assert lstm["first_fit_after_cutoff"].value[0]["fit_end"] == "2018-03-31"
    assert evaluations[("gru_checkpoint", "check_scaling_fit_before_cutoff")].passed
    assert evaluations[("rnn_checkpoint", "check_scaling_fit_before_cutoff")].passed


def test_a_model_without_any_checkpoint_fails_its_scaling_check(store):
    shutil.rmtree(store / "rnn_checkpoints" / "rnn")
    evaluations = run_checks(store, *scaling_checks)
    assert not evaluations[("rnn_checkpoint", "check_scaling_fit_before_cutoff")].passed
    assert evaluations[("lstm_checkpoint", "check_scaling_fit_before_cutoff")].passed
