import warnings

import pandas as pd

from finrnn_core.reading import read_predictions
from finrnn_core.storage import TABLE_SCHEMAS, write_partition

SCHEMA = TABLE_SCHEMAS["predictions"]


def rows(date: str, model: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Timestamp(date),
            "ticker": ["T0", "T1"],
            "model": model,
            "predicted": 0.1,
            "realized": float("nan"),
            "forward_step": 1,
            "model_version": f"{model}@x",
            "cutoff": pd.Timestamp("2020-12-31"),
        }
    )


def test_an_empty_predictions_folder_reads_as_no_rows_with_the_tables_columns(tmp_path):
    (tmp_path / "predictions").mkdir()
    frame = read_predictions(tmp_path, models=["lstm"], tickers=["T0"])
    assert frame.empty
    assert list(frame.columns) == ["date", *SCHEMA.names]
    assert frame["date"].dtype == "datetime64[ns]" and frame["cutoff"].dtype == "datetime64[ns]"


def test_model_names_match_in_any_case(tmp_path):
    write_partition(tmp_path / "predictions", "2021-03-01", rows("2021-03-01", "lstm"), SCHEMA)
    write_partition(tmp_path / "predictions", "2021-03-02", rows("2021-03-02", "gru"), SCHEMA)
    lower = read_predictions(tmp_path, models=["lstm"])
    assert len(lower) == 2
    pd.testing.assert_frame_equal(read_predictions(tmp_path, models=["LSTM"]), lower)
    pd.testing.assert_frame_equal(read_predictions(tmp_path, models="Lstm"), lower)
    # a model the table does not hold is no rows, as an unknown ticker is
    assert read_predictions(tmp_path, models=["rnn"]).empty


def test_cutoff_is_datetime64_like_date_so_they_compare_without_a_warning(tmp_path):
    write_partition(tmp_path / "predictions", "2021-03-01", rows("2021-03-01", "lstm"), SCHEMA)
    frame = read_predictions(tmp_path)
    assert frame["cutoff"].dtype == "datetime64[ns]"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (frame["date"] > frame["cutoff"]).all()
