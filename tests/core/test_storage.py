import signal
import subprocess
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from finrnn_core.errors import ConfigError, DataError
from finrnn_core.reading import read_predictions
from finrnn_core.storage import (
    TABLE_SCHEMAS,
    missing_partitions,
    partition_dates,
    partition_dir,
    read_table,
    write_partition,
    write_partitions,
)

SCHEMA = TABLE_SCHEMAS["predictions"]


def rows(date: str, n: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Timestamp(date),
            "ticker": [f"T{i}" for i in range(n)],
            "model": "lstm",
            "predicted": 0.1,
            "realized": float("nan"),
            "forward_step": 1,
            "model_version": "lstm@x",
            "cutoff": pd.Timestamp("2020-12-31"),
        }
    )


def test_written_table_reads_back_in_every_tool(tmp_path):
    table = tmp_path / "predictions"
    write_partition(table, "2021-03-01", rows("2021-03-01"), SCHEMA)
    write_partition(table, "2021-03-02", rows("2021-03-02", 3), SCHEMA)
    write_partition(table, "2021-03-03", rows("2021-03-03").iloc[0:0], SCHEMA)  # a holiday
    assert partition_dates(table) == ["2021-03-01", "2021-03-02", "2021-03-03"]
    assert (table / "date=2021-03-03" / "part-0.parquet").is_file()

    frame = read_table(table)
    assert len(frame) == 5 and frame.columns[0] == "date"
    assert frame["date"].dtype == "datetime64[ns]"
    assert ds.dataset(table, partitioning="hive").to_table().num_rows == 5
    assert (
        duckdb.sql(
            f"select count(*) from read_parquet('{table}/**/*.parquet', hive_partitioning=true)"
        ).fetchall()[0][0]
        == 5
    )
    assert pl.scan_parquet(f"{table}/**/*.parquet", hive_partitioning=True).collect().height == 5
    assert pd.read_parquet(table).shape[0] == 5
    assert len(read_table(table, start="2021-03-02", end="2021-03-02")) == 3


def test_one_ticker_as_a_string_is_that_ticker_and_bad_dates_are_named(tmp_path):
    write_partition(tmp_path / "predictions", "2021-03-01", rows("2021-03-01", 3), SCHEMA)
    assert read_table(tmp_path / "predictions", tickers="T1")["ticker"].tolist() == ["T1"]
    assert read_predictions(tmp_path, tickers="T2", models="lstm")["ticker"].tolist() == ["T2"]
    assert read_predictions(tmp_path, models="gru").empty
    for name, bad in [("start", "soon"), ("end", "2021-13-01")]:
        with pytest.raises(ConfigError, match=rf"`{name}` must be a date .*Received: {name}='"):
            read_table(tmp_path / "predictions", **{name: bad})


def test_rewrite_replaces_the_partition_and_leaves_no_temp_files(tmp_path):
    table = tmp_path / "predictions"
    write_partition(table, "2021-03-01", rows("2021-03-01", 4), SCHEMA)
    write_partition(table, "2021-03-01", rows("2021-03-01", 1), SCHEMA)
    assert len(read_table(table)) == 1
    assert [p.name for p in (table / "date=2021-03-01").iterdir()] == ["part-0.parquet"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    table = tmp_path / "predictions"
    write_partition(table, "2021-03-01", rows("2021-03-01", 2), SCHEMA)
    bad = rows("2021-03-01", 2).assign(predicted="not a number")
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        write_partition(table, "2021-03-01", bad, SCHEMA)
    assert len(read_table(table)) == 2
    assert [p.name for p in (table / "date=2021-03-01").iterdir()] == ["part-0.parquet"]


CRASHING_WRITER = """
import sys
import numpy as np, pandas as pd
from finrnn_core.storage import TABLE_SCHEMAS, write_partition
n = 4_000_000
frame = pd.DataFrame({
    "ticker": np.char.add("T", np.arange(n).astype(str)), "model": "lstm",
    "predicted": np.random.default_rng(0).normal(size=n), "realized": np.nan,
    "forward_step": 1, "model_version": "lstm@x", "cutoff": pd.Timestamp("2021-02-26"),
})
print("ready", flush=True)
while True:  # rewrite until killed
    write_partition(sys.argv[1], "2021-03-01", frame, TABLE_SCHEMAS["predictions"])
"""


def test_a_writer_killed_mid_write_leaves_readers_the_previous_file(tmp_path):
    from tests.conftest import REPO

    table = tmp_path / "predictions"
    write_partition(table, "2021-03-01", rows("2021-03-01", 2), SCHEMA)
    part = table / "date=2021-03-01"
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(table)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 60
        while not list(part.glob(".*.tmp")):  # the child is inside pq.write_table
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)  # a crash: no finally, no clean-up
    finally:
        child.kill()
        child.wait()
    leftovers = list(part.glob(".*.tmp"))
    assert leftovers, "the kill should have left the half-written temporary file"
    # readers see exactly the previous day's rows: the dot-file is not part of the dataset
    assert len(read_table(table)) == 2
    assert ds.dataset(table, partitioning="hive").count_rows() == 2
    assert len(pd.read_parquet(table)) == 2
    assert [p.name for p in part.iterdir() if not p.name.startswith(".")] == ["part-0.parquet"]
    assert np.isfinite(read_table(table)["predicted"]).all()


def test_rows_of_another_date_are_refused(tmp_path):
    with pytest.raises(
        DataError,
        match=r"Rows dated \['2021-03-02'\] cannot be written to partition date=2021-03-01",
    ):
        write_partition(tmp_path / "t", "2021-03-01", rows("2021-03-02"), SCHEMA)


@pytest.mark.parametrize("bad", ["../x", "2021-3-1", "2021-03-01/../../etc", "nope"])
def test_partition_dir_accepts_only_iso_dates(tmp_path, bad):
    with pytest.raises(DataError, match=r"Partition date must be YYYY-MM-DD"):
        partition_dir(tmp_path, bad)


def test_missing_partitions_and_missing_table(tmp_path):
    table = tmp_path / "predictions"
    write_partition(table, "2021-03-01", rows("2021-03-01"), SCHEMA)
    assert missing_partitions(table, ["2021-03-01", "2021-03-02"]) == ["2021-03-02"]
    with pytest.raises(DataError, match=r"does not exist; materialize it first"):
        read_table(tmp_path / "nothing")


def test_write_partitions_writes_each_day_its_rows_in_order_and_empty_days_as_empty_files(tmp_path):
    table = tmp_path / "predictions"
    frame = pd.concat([rows("2021-03-03", 3), rows("2021-03-01", 2), rows("2021-03-03", 1)])
    frame["predicted"] = [0.3, 0.31, 0.32, 0.1, 0.11, 0.33]  # day 3's rows interleave
    days = ["2021-03-01", "2021-03-02", "2021-03-03"]
    paths = write_partitions(table, frame, days, SCHEMA, threads=2)
    assert [p.parent.name for p in paths] == [f"date={d}" for d in days]
    back = read_table(table)
    assert back.groupby(back["date"].dt.day)["predicted"].apply(list).to_dict() == {
        1: [0.1, 0.11],
        3: [0.3, 0.31, 0.32, 0.33],  # the frame's order within a day
    }
    assert pq.read_table(paths[1]).num_rows == 0  # 2021-03-02: no rows, still a file
    assert pq.read_table(paths[1]).schema.names == SCHEMA.names
    with pytest.raises(DataError, match=r"Rows dated \['2021-03-03'\] are outside the partitions"):
        write_partitions(table, frame, days[:2], SCHEMA)
    with pytest.raises(DataError, match=r"Columns \['cutoff'\] missing"):
        write_partitions(table, frame.drop(columns="cutoff"), days, SCHEMA)


def test_write_partitions_refuses_undated_rows_and_keys_that_are_not_dates(tmp_path):
    table = tmp_path / "predictions"
    frame = rows("2021-03-01", 2)
    frame.loc[1, "date"] = pd.NaT
    with pytest.raises(DataError, match=r"Rows dated \['NaT'\] are outside the partitions"):
        write_partitions(table, frame, ["2021-03-01"], SCHEMA)
    with pytest.raises(DataError, match=r"Partition date must be YYYY-MM-DD"):
        write_partitions(table, rows("2021-03-01"), ["2021-03-01", "../x"], SCHEMA)
    assert not table.exists()  # refused before any file was written


def test_write_partitions_spreads_days_over_threads_and_keeps_each_days_rows(tmp_path):
    table = tmp_path / "predictions"
    days = [str(d.date()) for d in pd.bdate_range("2021-03-01", periods=7)]
    frame = pd.concat([rows(d, n) for n, d in enumerate(days, start=1)])
    paths = write_partitions(table, frame, days, SCHEMA, threads=3)  # runs of 2, 2 and 3 days
    assert [p.parent.name for p in paths] == [f"date={d}" for d in days]
    assert [pq.read_table(p).num_rows for p in paths] == [1, 2, 3, 4, 5, 6, 7]
    assert not list(table.glob("*/.*.tmp"))


def test_a_partition_key_with_a_time_of_day_still_gets_its_rows(tmp_path):
    table = tmp_path / "predictions"
    frame = rows("2021-03-01", 3)
    (path,) = write_partitions(table, frame, ["2021-03-01T00:00:00"], SCHEMA)
    assert path.parent.name == "date=2021-03-01"
    assert pq.read_table(path).num_rows == 3  # not an empty day: the rows were not dropped


def test_rows_with_no_partitions_to_write_are_refused_by_name(tmp_path):
    with pytest.raises(DataError, match=r"Rows dated \['2021-03-01'\] are outside .* \(none\)"):
        write_partitions(tmp_path / "predictions", rows("2021-03-01"), [], SCHEMA)
