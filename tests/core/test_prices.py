import numpy as np
import pandas as pd
import pytest

from finrnn_core.errors import DataError
from finrnn_core.prices import read_prices


def test_wide_close_table_from_real_gzip_csv(shared_data):
    result = read_prices(
        shared_data / "us_large_caps_close_1990_2022.csv.gz", "2022-01-03", "2022-12-28"
    )
    assert result.prices["ticker"].nunique() == 20
    assert result.rows_read == result.rows_accepted + result.rows_quarantined
    aapl = result.prices[
        (result.prices["ticker"] == "AAPL") & (result.prices["date"] == "2022-12-28")
    ]
    assert aapl["adj_close"].item() == pytest.approx(125.674)
    assert result.prices["date"].min() == pd.Timestamp("2022-01-03")


def test_yahoo_ohlcv_from_real_csv_ticker_from_file_name(shared_data):
    result = read_prices(shared_data / "sp500_index_ohlcv_1999_2018.csv")
    assert result.prices["ticker"].unique().tolist() == ["sp500_index_ohlcv_1999_2018"]
    assert result.rows_read == 5031 == result.rows_accepted
    last = result.prices.iloc[-1]
    assert last["date"] == pd.Timestamp("2018-12-31")
    assert last["close"] == pytest.approx(2506.850098)
    assert last["volume"] == pytest.approx(3442870000)


def test_bundled_sample_reads_both_layouts(sample_dir):
    result = read_prices(sample_dir)
    assert result.prices["ticker"].nunique() == 21
    assert "SP500" in set(result.prices["ticker"])
    assert result.rows_quarantined == 0
    assert result.rows_read == 754 * 21


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bad_rows_are_quarantined_and_counted(tmp_path):
    path = write(
        tmp_path,
        "XYZ.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-03-01,1,1,1,10,10,100\n"
        "2021-03-02,1,1,1,null,null,100\n"
        "2021-03-03,1,1,1,-5,-5,100\n"
        "2021-03-03,1,1,1,11,11,100\n"
        "2021-03-04,1,1,1,12,12,100\n",
    )
    result = read_prices(path)
    assert result.rows_read == 5
    assert result.rows_accepted == 3  # the good row of 2021-03-03 is kept
    assert result.quarantined_by_reason() == {"missing_price": 1, "non_positive_price": 1}
    assert result.rows_read == result.rows_accepted + result.rows_quarantined
    q = result.quarantine.sort_values("row_number")
    assert q["row_number"].tolist() == [3, 4]
    assert q["raw_value"].tolist() == ["null", "-5"]
    assert q["column"].tolist() == ["Adj Close", "Adj Close"]


def test_duplicate_date_keeps_first_and_quarantines_the_rest(tmp_path):
    path = write(tmp_path, "wide.csv", "Date,A,B\n2021-03-01,1,2\n2021-03-01,3,4\n2021-03-02,5,6\n")
    result = read_prices(path)
    assert result.rows_read == 6 and result.rows_accepted == 4
    assert result.quarantined_by_reason() == {"duplicate_date": 2}
    first = result.prices[
        (result.prices["ticker"] == "A") & (result.prices["date"] == "2021-03-01")
    ]
    assert first["adj_close"].item() == 1


def test_two_days_with_identical_prices_are_both_kept(tmp_path):
    path = write(tmp_path, "wide.csv", "Date,A\n2021-03-01,5\n2021-03-02,5\n")
    assert read_prices(path).rows_accepted == 2


def test_descending_dates_are_sorted_and_the_repair_counted(tmp_path):
    path = write(tmp_path, "wide.csv", "Date,A\n2021-03-03,3\n2021-03-02,2\n2021-03-01,1\n")
    result = read_prices(path)
    assert result.prices["adj_close"].tolist() == [1, 2, 3]
    assert result.repairs == {"tickers_sorted_by_date": 1}


def test_weekend_rows_are_quarantined_when_trading_days_are_given(tmp_path):
    path = write(tmp_path, "wide.csv", "Date,A\n2021-03-05,1\n2021-03-06,2\n2021-03-08,3\n")
    days = pd.bdate_range("2021-03-01", "2021-03-12")
    result = read_prices(path, trading_days=days)
    assert result.quarantined_by_reason() == {"non_trading_day": 1}
    assert result.quarantine["date"].item() == pd.Timestamp("2021-03-06")


def test_unknown_layout_names_the_file_and_columns(tmp_path):
    path = write(tmp_path, "odd.csv", "when,what\n1,2\n")
    with pytest.raises(
        DataError,
        match=r"Unknown price file layout in .*odd.csv.*no date column.*\['when', 'what'\]",
    ):
        read_prices(path)


def test_unparseable_date_names_file_line_and_value(tmp_path):
    path = write(tmp_path, "wide.csv", "Date,A\n2021-03-01,1\nnot-a-date,2\n")
    with pytest.raises(
        DataError, match=r"Unparseable dates in column 'Date' of .*wide.csv.*line 3: 'not-a-date'"
    ):
        read_prices(path)


def test_missing_source_and_empty_folder_are_clear(tmp_path):
    with pytest.raises(DataError, match=r"does not exist"):
        read_prices(tmp_path / "nope")
    with pytest.raises(DataError, match=r"No price files"):
        read_prices(tmp_path)


def test_same_ticker_in_two_files_is_refused(tmp_path):
    write(tmp_path, "a.csv", "Date,A\n2021-03-01,1\n")
    write(tmp_path, "b.csv", "Date,A\n2021-03-02,1\n")
    with pytest.raises(DataError, match=r"Ticker 'A' appears in two price files"):
        read_prices(tmp_path)


def test_parquet_and_csv_give_the_same_rows(tmp_path):
    frame = pd.DataFrame(
        {"Date": pd.bdate_range("2021-03-01", periods=5).date, "A": np.arange(1.0, 6.0)}
    )
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    frame.to_csv(tmp_path / "c.csv", index=False)
    from_parquet = read_prices(tmp_path / "p.parquet").prices
    from_csv = read_prices(tmp_path / "c.csv").prices
    pd.testing.assert_frame_equal(
        from_parquet.drop(columns="source_file"), from_csv.drop(columns="source_file")
    )
