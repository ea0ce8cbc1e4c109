import logging
import shutil
import struct

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from finrnn_core.plots import loss_curve_png, predicted_vs_realized_png
from finrnn_core.storage import TABLE_SCHEMAS
from finrnn_pipeline.assets.models import epoch_progress
from finrnn_pipeline.definitions import defs
from finrnn_pipeline.metadata import column_schema, hit_rate, image, prediction_scores, preview
from tests.pipeline.conftest import run_assets, training_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    return struct.unpack(">II", png[16:24])


def test_column_schema_is_date_then_the_stored_parquet_columns():
    schema = column_schema("predictions")
    names = [c.name for c in schema.columns]
    assert names == ["date", *TABLE_SCHEMAS["predictions"].names]
    types = {c.name: c.type for c in schema.columns}
    assert types["date"] == "date" and types["ticker"] == "string"
    assert types["predicted"] == "double" and types["cutoff"] == "date"
    assert all(c.description for c in schema.columns)
    with pytest.raises(KeyError, match=r"`table_name` must be one of .* Received: 'nope'"):
        column_schema("nope")


def test_table_assets_carry_their_column_schema_and_every_asset_an_owner():
    graph = defs.resolve_asset_graph()
    for name in ("price_features", "predictions"):
        node = graph.get(dg.AssetKey(name))
        assert node.metadata["dagster/column_schema"] == column_schema(name)
    for name in ("price_features", "lstm_checkpoint", "gru_checkpoint", "predictions"):
        assert "team:quant-ml" in graph.get(dg.AssetKey(name)).owners


def test_hit_rate_counts_matching_signs_over_realized_rows_only():
    predicted = [0.1, -0.2, 0.3, -0.4, 0.5]
    realized = [0.2, 0.1, -0.1, -0.3, np.nan]
    assert hit_rate(predicted, realized) == pytest.approx(2 / 4)
    assert np.isnan(hit_rate([0.1], [np.nan]))


def test_prediction_scores_per_model_and_overall():
    frame = pd.DataFrame(
        {
            "model": ["lstm"] * 3 + ["gru"] * 3,
            "predicted": [1.0, 2.0, -3.0, 1.0, -1.0, 1.0],
            "realized": [1.0, 2.0, 3.0, -1.0, -2.0, np.nan],
        }
    )
    scores = prediction_scores(frame)
    assert scores["hit_rate_lstm"] == pytest.approx(2 / 3)
    assert scores["hit_rate_gru"] == pytest.approx(1 / 2)
    assert scores["hit_rate"] == pytest.approx(3 / 5)
    assert scores["corr_gru"] == pytest.approx(1.0)
    assert set(scores) == {"corr_lstm", "hit_rate_lstm", "corr_gru", "hit_rate_gru", "hit_rate"}
    assert prediction_scores(frame.iloc[0:0]) == {}


def test_charts_are_small_pngs_that_embed_in_markdown():
    curve = loss_curve_png([3.0, 2.0, 1.5], [0.1, 0.2, 0.3], [0.0, 0.05, 0.02], title="lstm")
    scatter = predicted_vs_realized_png(
        np.linspace(-1, 1, 500), np.linspace(1, -1, 500), ["lstm", "gru"] * 250
    )
    for png in (curve, scatter):
        assert png_size(png) == (400, 256)
        assert len(png) < 100_000
    assert image(curve, "loss").value.startswith("![loss](data:image/png;base64,iVBORw0KGgo")
    with pytest.raises(ValueError, match=r"`corr_oos` must have one value per epoch \(3\)"):
        loss_curve_png([3.0, 2.0, 1.5], corr_oos=[0.1])


def test_preview_is_a_markdown_table_of_the_first_rows():
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2018-03-01"] * 12),
            "ticker": [f"T{i}" for i in range(12)],
            "ret_1d": np.arange(12) / 3,
        }
    )
    text = preview(frame).value
    lines = text.splitlines()
    assert lines[0] == "| date | ticker | ret_1d |"
    assert lines[2] == "| 2018-03-01 | T0 | 0 |"
    assert lines[3] == "| 2018-03-01 | T1 | 0.3333 |"
    assert len([line for line in lines if line.startswith("| 2018")]) == 10
    assert lines[-1] == "*first 10 of 12 rows*"


def test_epoch_progress_line_has_the_eta_from_the_average_epoch_time():
    line = epoch_progress(
        "lstm", 2, 5, {"loss": 1.5, "corr_is": 0.1, "corr_oos": -0.02, "seconds": 6.0}, [4.0, 6.0]
    )
    assert line == "lstm epoch 2/5: loss=1.5000 corr_is=0.100 corr_oos=-0.020 (6.0s, eta=15s)"


@pytest.fixture
def features_only(chain_root, tmp_path):
    shutil.copytree(chain_root / "price_features", tmp_path / "price_features")
    shutil.copytree(chain_root / "rnn_checkpoints", tmp_path / "rnn_checkpoints")
    return tmp_path


def test_a_checkpoint_run_logs_progress_and_shows_its_loss_curve(features_only):
    instance = dg.DagsterInstance.ephemeral()
    config = training_config(epochs=2)["ops"]["gru_checkpoint"]
    result = run_assets(
        features_only,
        "2018-03-30",
        "2018-03-30",
        selection=["gru_checkpoint"],
        run_config={"ops": {"gru_checkpoint": config}},
        instance=instance,
    )
    assert result.success
    progress = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.INFO and " epoch " in e.user_message
    ]
    # no cut-off before 2018-03-30 is stored, so it starts from scratch
    assert [m.split(":")[0] for m in progress] == [
        "gru@2018-03-30 epoch 1/2",
        "gru@2018-03-30 epoch 2/2",
    ]
    assert all("loss=" in m and "corr_oos=" in m and "eta=" in m for m in progress)
    assert progress[-1].endswith("eta=0s)")
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["loss_curve"].value.startswith("![gru loss and correlation per epoch](data:image")
    assert isinstance(meta["final_loss"].value, float)


def test_predictions_metadata_has_scores_a_scatter_and_a_preview(features_only):
    result = run_assets(features_only, "2018-04-02", "2018-04-06", selection=["predictions"])
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    frame = pd.read_parquet(features_only / "predictions")
    scored = frame.dropna(subset=["realized"])
    assert meta["rows"].value == len(frame) == 5 * 21 * 3
    assert meta["hit_rate"].value == pytest.approx(
        np.mean(np.sign(scored["predicted"]) == np.sign(scored["realized"]))
    )
    for model in ("lstm", "gru", "rnn"):
        assert 0.0 <= meta[f"hit_rate_{model}"].value <= 1.0
        assert -1.0 <= meta[f"corr_{model}"].value <= 1.0
    # A ranged run stores its output metadata once per day: the picture is logged once.
    materialized = result.get_asset_materialization_events()
    assert len(materialized) == 5
    for event in materialized:
        shown = event.materialization.metadata["predicted_vs_realized"].value
        assert "data:image" not in shown and "observation of partition 2018-04-06" in shown
    (observed,) = result.get_asset_observation_events()
    assert observed.asset_observation_data.asset_observation.partition == "2018-04-06"
    picture = observed.asset_observation_data.asset_observation.metadata["predicted_vs_realized"]
    assert "data:image/png;base64," in picture.value
    assert meta["preview"].value.startswith("| date | ticker | model | predicted |")
    assert meta["path"].value == str(features_only / "predictions")

    # A one-day run (the daily schedule's) keeps the picture on its materialization.
    one_day = run_assets(features_only, "2018-04-09", "2018-04-09", selection=["predictions"])
    (event,) = one_day.get_asset_materialization_events()
    assert "data:image/png;base64," in event.materialization.metadata["predicted_vs_realized"].value
    assert not one_day.get_asset_observation_events()
