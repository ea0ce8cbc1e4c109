import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finrnn_core.reading import read_predictions
from finrnn_core.storage import read_table

CLI = str(Path(sys.executable).parent / "finrnn-predictions")  # the installed console script


def cli(*args, env=None):
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env)


def test_read_predictions_filters_by_date_ticker_and_model(chain_root):
    frame = read_predictions(chain_root, "2018-04-03", "2018-04-05", ["AAPL", "MSFT"], ["gru"])
    assert len(frame) == 3 * 2
    assert set(frame["ticker"]) == {"AAPL", "MSFT"} and set(frame["model"]) == {"gru"}
    assert frame["date"].min() == pd.Timestamp("2018-04-03")
    assert frame["date"].max() == pd.Timestamp("2018-04-05")
    everything = read_predictions(chain_root)
    assert len(everything) == len(read_table(chain_root / "predictions"))


def test_cli_prints_the_filtered_rows_as_csv(chain_root):
    out = cli(
        "--root", str(chain_root), "--start", "2018-04-09", "--end", "2018-04-10",
        "--ticker", "AAPL", "--ticker", "XOM", "--model", "lstm", "--format", "csv",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(io.StringIO(out.stdout))
    assert list(frame.columns) == [
        "date", "ticker", "model", "predicted", "realized", "forward_step", "model_version", "cutoff",
    ]  # fmt: skip
    assert frame[["date", "ticker"]].values.tolist() == [
        ["2018-04-09", "AAPL"],
        ["2018-04-09", "XOM"],
        ["2018-04-10", "AAPL"],
        ["2018-04-10", "XOM"],
    ]
    stored = read_predictions(chain_root, "2018-04-09", "2018-04-10", ["AAPL", "XOM"], ["lstm"])
    assert frame["predicted"].tolist() == stored["predicted"].tolist()


def test_cli_table_format_and_the_storage_root_from_the_environment(chain_root):
    env = {"FINRNN_STORAGE_ROOT": str(chain_root), "PATH": "/usr/bin:/bin"}
    out = cli("--start", "2018-04-30", "--ticker", "AMD", env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["date", "ticker", "model", "predicted"]
    assert sorted(line.split()[2] for line in lines[1:]) == ["gru", "lstm", "rnn"]
    assert all(line.startswith("2018-04-30") and " AMD " in line for line in lines[1:])


def test_cli_writes_parquet_to_the_output_file(chain_root, tmp_path):
    target = tmp_path / "out.parquet"
    out = cli(
        "--root", str(chain_root), "--model", "rnn", "--format", "parquet", "--output", str(target)
    )
    assert out.returncode == 0, out.stderr
    frame = pd.read_parquet(target)
    assert len(frame) == 21 * 21  # 21 trading days x 21 tickers
    assert set(frame["model"]) == {"rnn"}
    assert f"{len(frame)} row(s) written to {target}" in out.stderr


def test_cli_errors_clearly(chain_root, tmp_path):
    missing = cli("--root", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert "no predictions table at" in missing.stderr and "nowhere" in missing.stderr
    assert "looks like the predictions table itself" not in missing.stderr
    table = cli("--root", str(chain_root / "predictions"))  # the table, not the root above it
    assert table.returncode == 2
    assert f"--root is the folder above it ({str(chain_root.resolve())!r})" in table.stderr
    bad_date = cli("--root", str(chain_root), "--start", "April")
    assert bad_date.returncode == 2 and "--start must be a date YYYY-MM-DD" in bad_date.stderr
    parquet = cli("--root", str(chain_root), "--format", "parquet")
    assert parquet.returncode == 2 and "give --output FILE" in parquet.stderr
    none = cli("--root", str(chain_root), "--ticker", "NOPE", "--format", "csv")
    assert none.returncode == 0 and "no rows match" in none.stderr
    assert none.stdout.strip().startswith("date,ticker,model")


def test_cli_help_explains_every_option():
    out = cli("--help")
    assert out.returncode == 0
    for option in ("--root", "--start", "--end", "--ticker", "--model", "--format", "--output"):
        assert option in out.stdout
    assert "FINRNN_STORAGE_ROOT" in out.stdout and "repeat" in out.stdout


def test_cli_takes_model_names_in_any_case_and_says_why_nothing_matched(chain_root, tmp_path):
    out = cli("--root", str(chain_root), "--start", "2018-04-09", "--end", "2018-04-09",
              "--model", "LSTM", "--format", "csv")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert set(pd.read_csv(io.StringIO(out.stdout))["model"]) == {"lstm"}
    none = cli("--root", str(chain_root), "--ticker", "APPL")
    assert none.returncode == 0 and none.stdout == ""
    assert "--ticker ['APPL'] not in the table (it has ['AAPL'," in none.stderr
    assert ", ..., and 11 more])" in none.stderr  # 21 tickers: the first 10 are listed
    unknown = cli("--root", str(chain_root), "--model", "XGB", "--ticker", "AAPL")
    assert "--model ['XGB'] not in the table (it has ['gru', 'lstm', 'rnn']). Stored" in (
        unknown.stderr
    )
    # rows for one name do not hide another that matched none
    some = cli("--root", str(chain_root), "--model", "lstm", "--model", "xgb", "--format", "csv")
    assert some.returncode == 0 and set(pd.read_csv(io.StringIO(some.stdout))["model"]) == {"lstm"}
    assert "note: --model ['xgb'] matched no row." in some.stderr
    assert "--ticker" not in unknown.stderr
    assert "Stored dates: 2018-04-02..2018-04-30" in none.stderr
    for bad in (str(tmp_path), str(tmp_path / "missing" / "x.csv")):
        out = cli("--root", str(chain_root), "--format", "csv", "--output", bad)
        assert out.returncode == 2
        assert "--output must be a file in an existing folder" in out.stderr
        assert "Traceback" not in out.stderr


def test_cli_on_an_empty_predictions_folder_says_nothing_is_materialized(tmp_path):
    (tmp_path / "predictions").mkdir()
    out = cli("--root", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert (
        f"the predictions table at {str((tmp_path / 'predictions').resolve())!r} holds no "
        "partition yet" in out.stderr
    )
    assert "Materialize the predictions asset first" in out.stderr


def test_cli_writes_cutoff_as_a_day_like_date(chain_root, tmp_path):
    target = tmp_path / "out.parquet"
    args = ("--root", str(chain_root), "--start", "2018-04-09", "--end", "2018-04-09")
    assert cli(*args, "--format", "parquet", "--output", str(target)).returncode == 0
    schema = pq.read_schema(target)
    assert schema.field("date").type == pa.date32() and schema.field("cutoff").type == pa.date32()
    text = pd.read_csv(io.StringIO(cli(*args, "--format", "csv").stdout), dtype=str)
    assert set(text["date"]) == {"2018-04-09"} and set(text["cutoff"]) == {"2018-03-30"}
    # no row: still days, not Parquet's null type
    empty = tmp_path / "empty.parquet"
    assert (
        cli(*args, "--ticker", "NONE", "--format", "parquet", "--output", str(empty)).returncode
        == 0
    )
    schema = pq.read_schema(empty)
    assert schema.field("date").type == pa.date32() and schema.field("cutoff").type == pa.date32()
    assert pq.read_metadata(empty).num_rows == 0
