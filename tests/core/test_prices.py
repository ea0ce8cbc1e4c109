import gzip

import numpy as np
import pandas as pd
import pytest

from finrnn_core.errors import ConfigError, DataError
from finrnn_core.prices import CsvDialect, Split, read_prices


def write(folder, name, text, encoding="utf-8"):
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def balanced(result):
    return result.rows_read == result.rows_accepted + result.rows_quarantined


def closes(result, ticker):
    rows = result.prices[result.prices["ticker"] == ticker]
    return dict(zip(rows["date"].dt.strftime("%Y-%m-%d"), rows["adj_close"], strict=True))


# ------------------------------------------------------------------ real files, both sample layouts


def test_wide_close_table_from_real_gzip_csv(shared_data):
    result = read_prices(
        shared_data / "us_large_caps_close_1990_2022.csv.gz", "2022-01-03", "2022-12-28"
    )
    assert result.prices["ticker"].nunique() == 20
    assert balanced(result) and result.rows_quarantined == 0
    assert closes(result, "AAPL")["2022-12-28"] == pytest.approx(125.674)
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


# ------------------------------------------------------------------------------------ layouts


def test_yahoo_layout_uses_adj_close(tmp_path):
    path = write(
        tmp_path,
        "MSFT.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n2021-03-01,1,2,0.5,10,9,100\n",
    )
    row = read_prices(path).prices.iloc[0]
    assert (row["ticker"], row["close"], row["adj_close"], row["volume"]) == ("MSFT", 10, 9, 100)


def test_kaggle_layout_with_openint(tmp_path):
    path = write(
        tmp_path,
        "aapl.us.txt",
        "Date,Open,High,Low,Close,Volume,OpenInt\n2017-11-09,175.11,176.1,173.14,175.88,29533086,0\n",
    )
    result = read_prices(path)
    row = result.prices.iloc[0]
    assert row["ticker"] == "aapl.us"
    assert row["adj_close"] == 175.88 and row["volume"] == 29533086


def test_stooq_per_ticker_file(tmp_path):
    path = write(
        tmp_path,
        "spy.us.csv",
        "Date,Open,High,Low,Close,Volume\n2021-03-01,384.0,386.0,380.0,385.5,1000\n",
    )
    assert closes(read_prices(path), "spy.us") == {"2021-03-01": 385.5}


def test_stooq_bulk_file_with_angle_bracket_headers(tmp_path):
    path = write(
        tmp_path,
        "bulk.txt",
        "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
        "AAPL.US,D,20210301,000000,123.75,127.93,122.79,127.79,116307892,0\n"
        "MSFT.US,D,20210301,000000,235.9,237.47,233.15,236.94,25324000,0\n"
        "AAPL.US,D,20210302,000000,128.41,128.72,125.01,125.12,102260945,0\n",
    )
    result = read_prices(path)
    assert closes(result, "AAPL.US") == {"2021-03-01": 127.79, "2021-03-02": 125.12}
    assert closes(result, "MSFT.US") == {"2021-03-01": 236.94}
    assert result.prices["volume"].max() == 116307892


def test_long_multi_ticker_table_with_symbol_column(tmp_path):
    path = write(
        tmp_path,
        "long.csv",
        "date,symbol,open,high,low,close,adj_close,volume\n"
        "2021-03-01,A,1,1,1,10,9.5,5\n2021-03-01,B,1,1,1,20,,5\n",
    )
    result = read_prices(path)
    assert closes(result, "A") == {"2021-03-01": 9.5}
    # an empty adjusted close is quarantined, not replaced by the (unadjusted) close
    assert closes(result, "B") == {}
    q = result.quarantine
    assert q[["ticker", "column", "raw_value", "reason"]].values.tolist() == [
        ["B", "adj_close", "", "missing_price"]
    ]


def test_wide_table_one_column_per_ticker(tmp_path):
    path = write(tmp_path, "wide.csv", "Date,AAA,BBB\n2021-03-01,1,2\n2021-03-02,3,4\n")
    result = read_prices(path)
    assert closes(result, "AAA") == {"2021-03-01": 1, "2021-03-02": 3}
    assert closes(result, "BBB") == {"2021-03-01": 2, "2021-03-02": 4}


def test_single_series_file_takes_the_ticker_from_the_file_name(tmp_path):
    path = write(tmp_path, "WTI.csv", "DATE,DCOILWTICO\n2021-03-01,60.64\n2021-03-02,59.75\n")
    assert closes(read_prices(path), "WTI") == {"2021-03-01": 60.64, "2021-03-02": 59.75}


def test_headers_match_case_and_whitespace_insensitively(tmp_path):
    path = write(tmp_path, "X.csv", " DATE ,  adj_close ,CLOSE\n2021-03-01,5,6\n")
    assert closes(read_prices(path), "X") == {"2021-03-01": 5}


def test_explicit_column_map_and_dialect(tmp_path):
    path = write(
        tmp_path,
        "eu.csv",
        "Datum;Kurs;Umsatz\n01.03.2021;1.234,50;1.000\n02.03.2021;1.240,00;2.000\n",
    )
    result = read_prices(
        path,
        column_map={"Datum": "date", "Kurs": "close", "Umsatz": "volume"},
        dialect=CsvDialect(delimiter=";", decimal=",", thousands=".", date_format="%d.%m.%Y"),
    )
    assert closes(result, "eu") == {"2021-03-01": 1234.5, "2021-03-02": 1240.0}
    assert result.prices["volume"].tolist() == [1000, 2000]


def test_parquet_csv_and_gzip_give_the_same_rows(tmp_path):
    frame = pd.DataFrame(
        {"Date": pd.bdate_range("2021-03-01", periods=5).date, "A": np.arange(1.0, 6.0), "B": 2.0}
    )
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    frame.to_csv(tmp_path / "c.csv", index=False)
    with gzip.open(tmp_path / "g.csv.gz", "wt") as fh:
        frame.to_csv(fh, index=False)
    drop = lambda f: f.drop(columns="source_file")  # noqa: E731
    from_parquet = drop(read_prices(tmp_path / "p.parquet").prices)
    pd.testing.assert_frame_equal(from_parquet, drop(read_prices(tmp_path / "c.csv").prices))
    pd.testing.assert_frame_equal(from_parquet, drop(read_prices(tmp_path / "g.csv.gz").prices))


def test_folder_and_glob_sources(tmp_path):
    write(tmp_path, "A.csv", "Date,Close\n2021-03-01,1\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "B.csv", "Date,Close\n2021-03-01,2\n")
    write(tmp_path, "notes.md", "not prices")
    in_folder = read_prices(tmp_path)
    assert set(in_folder.prices["ticker"]) == {"A"}
    assert [p.rsplit("/", 1)[-1] for p in in_folder.files_skipped] == ["notes.md"]
    assert "1 file(s) skipped as not price files: notes.md" in in_folder.summary()
    assert in_folder.folders_skipped == [str(tmp_path / "sub")]  # B.csv is not read: said so
    assert "1 subfolder(s) not read: sub/ (a folder source reads only its own files" in (
        in_folder.summary()
    )
    assert set(read_prices(f"{tmp_path}/**/*.csv").prices["ticker"]) == {"A", "B"}
    write(tmp_path / "sub", "_scratch.csv", "Date,Close\n2021-03-01,3\n")
    globbed = read_prices(f"{tmp_path}/**/*.csv")
    assert globbed.files_skipped == [str(tmp_path / "sub" / "_scratch.csv")]  # matched, not read
    assert globbed.folders_skipped == []
    with pytest.raises(DataError, match=r"No price files .* match"):
        read_prices(f"{tmp_path}/*.xlsx")


# ------------------------------------------------------------------------------------- quirks


def test_null_nan_empty_and_dash_cells_are_quarantined_with_raw_values(tmp_path):
    path = write(
        tmp_path,
        "wide.csv",
        "Date,A\n2021-03-01,null\n2021-03-02,NaN\n2021-03-03,\n2021-03-04,-\n2021-03-05,7\n",
    )
    result = read_prices(path)
    assert result.rows_accepted == 1 and balanced(result)
    q = result.quarantine.sort_values("row_number")
    assert q["reason"].unique().tolist() == ["missing_price"]
    assert q["raw_value"].tolist() == ["null", "NaN", "", "-"]
    assert q["raw_date"].tolist() == ["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04"]
    assert q["row_number"].tolist() == [2, 3, 4, 5]


def test_text_that_is_not_a_number_in_the_price_column_is_unparseable_not_missing(tmp_path):
    long = write(tmp_path, "L.csv", "Date,Ticker,Close\n2021-03-01,A,abc\n2021-03-02,A,N/A\n")
    wide = write(tmp_path, "W.csv", "Date,A,B\n2021-03-01,$4.10,5\n2021-03-02,, 1.5K \n")
    for path in (long, wide):
        result = read_prices(path)
        assert balanced(result)
        q = result.quarantine.sort_values(["row_number", "ticker"])
        assert (
            q[["reason", "column", "raw_value"]].values.tolist()
            == {
                "L.csv": [
                    ["unparseable_number", "Close", "abc"],
                    ["missing_price", "Close", "N/A"],
                ],
                "W.csv": [["unparseable_number", "A", "$4.10"], ["missing_price", "A", ""]],
            }[path.name]
        )


def test_a_line_with_a_wrong_field_count_is_quarantined_as_such_with_the_line(tmp_path):
    path = write(
        tmp_path,
        "F.csv",
        "Date,Close,Volume\n2021-03-01,1,5\n2021-03-02,1,234.5,7\n2021-03-03\n2021-03-04,4,8\n",
    )
    result = read_prices(path)
    assert closes(result, "F") == {"2021-03-01": 1, "2021-03-04": 4} and balanced(result)
    assert result.quarantine[["reason", "column", "raw_value", "row_number"]].values.tolist() == [
        ["wrong_field_count", "<whole line>", "2021-03-02,1,234.5,7", 3],
        ["missing_price", "<whole line>", "2021-03-03", 4],  # a date alone: no price
    ]


def test_spaces_around_a_ticker_are_stripped_and_counted(tmp_path):
    path = write(
        tmp_path,
        "T.csv",
        "date,ticker,close\n2021-03-01,AAPL,1\n2021-03-02, AAPL,2\n2021-03-03,AAPL ,3\n",
    )
    result = read_prices(path)
    assert closes(result, "AAPL") == {"2021-03-01": 1, "2021-03-02": 2, "2021-03-03": 3}
    assert set(result.prices["ticker"]) == {"AAPL"}
    assert result.repairs["ticker_whitespace_stripped"] == 2


def test_date_only_rows_are_quarantined(tmp_path):
    path = write(
        tmp_path,
        "Z.csv",
        "Date,Open,High,Low,Close,Volume\n2021-03-01,1,1,1,5,1\n2021-03-02\n2021-03-03,,,,,\n",
    )
    result = read_prices(path)
    assert result.rows_accepted == 1
    assert result.quarantined_by_reason() == {"missing_price": 2}
    assert sorted(result.quarantine["row_number"]) == [3, 4]
    assert "2021-03-02" in result.quarantine["raw_value"].tolist()


def test_duplicate_dates_keep_the_first_usable_row(tmp_path):
    path = write(
        tmp_path,
        "D.csv",
        "Date,Close\n2021-03-01,1\n2021-03-01,2\n2021-03-02,-5\n2021-03-02,3\n",
    )
    result = read_prices(path)
    assert closes(result, "D") == {"2021-03-01": 1, "2021-03-02": 3}
    assert result.quarantined_by_reason() == {"duplicate_date": 1, "non_positive_price": 1}
    assert result.repairs["duplicate_rows_dropped"] == 1


def test_two_days_with_identical_prices_are_both_kept(tmp_path):
    path = write(tmp_path, "S.csv", "Date,Close\n2021-03-01,5\n2021-03-02,5\n")
    assert read_prices(path).rows_accepted == 2


@pytest.mark.parametrize(
    "order", [["03", "02", "01"], ["02", "03", "01"]], ids=["descending", "random"]
)
def test_unsorted_dates_are_sorted_and_the_repair_counted(tmp_path, order):
    body = "".join(f"2021-03-{d},{int(d)}\n" for d in order)
    result = read_prices(write(tmp_path, "U.csv", "Date,Close\n" + body))
    assert result.prices["adj_close"].tolist() == [1, 2, 3]
    assert result.repairs == {"tickers_sorted_by_date": 1}


def test_timezone_aware_timestamps_keep_the_exchange_local_date(tmp_path):
    path = write(
        tmp_path,
        "TZ.csv",
        "Date,Close\n"
        "2021-03-01T16:00:00-05:00,1\n"  # New York close
        "2021-03-02T21:00:00Z,2\n"  # the same instant in UTC, a day later
        "2021-03-03 22:30:00+01:00,3\n",  # 16:30 New York
    )
    result = read_prices(path)
    assert list(closes(result, "TZ")) == ["2021-03-01", "2021-03-02", "2021-03-03"]
    assert result.repairs["timezone_normalised"] == 3


def test_timezone_aware_parquet_timestamps(tmp_path):
    stamps = pd.to_datetime(["2021-03-01 21:00", "2021-03-02 21:00"]).tz_localize("UTC")
    pd.DataFrame({"timestamp": stamps, "close": [1.0, 2.0]}).to_parquet(tmp_path / "P.parquet")
    result = read_prices(tmp_path / "P.parquet")
    assert list(closes(result, "P")) == ["2021-03-01", "2021-03-02"]


def test_a_stamp_at_midnight_in_its_own_offset_is_the_day_written(tmp_path):
    """Daily bars exported as 2021-03-02T00:00:00Z are 2 March's: converted to New York time
    they would be filed on 1 March, a day before their prices existed."""
    path = write(
        tmp_path,
        "M.csv",
        "Date,Close\n"
        "2021-03-01T00:00:00Z,1\n"
        "2021-03-02T00:00:00+00:00,2\n"
        "2021-03-03T00:00:00.000+09:00,3\n"
        "2021-03-05T01:00:00Z,5\n"  # an instant: 4 March, 20:00 in New York
        "2021-03-06T00:00:00Z,6\n",  # a Saturday as written, so quarantined
    )
    result = read_prices(path, trading_days=pd.bdate_range("2021-03-01", "2021-03-05"))
    assert closes(result, "M") == {
        "2021-03-01": 1,
        "2021-03-02": 2,
        "2021-03-03": 3,
        "2021-03-04": 5,
    }
    assert result.repairs["midnight_offset_ignored"] == 4
    assert result.repairs["timezone_normalised"] == 1
    # the quarantined row keeps its date as written, not pyarrow's rendering of the instant
    q = result.quarantine
    assert q[["reason", "raw_date"]].values.tolist() == [
        ["non_trading_day", "2021-03-06T00:00:00Z"]
    ]
    # the same rule for a declared %z format and for aware Parquet timestamps
    text = "Date,Close\n2021-03-01T00:00:00+0500,1\n2021-03-02T23:30:00-0500,3\n"
    declared = read_prices(
        write(tmp_path, "Z.csv", text), dialect=CsvDialect(date_format="%Y-%m-%dT%H:%M:%S%z")
    )
    assert closes(declared, "Z") == {"2021-03-01": 1, "2021-03-02": 3}
    stamps = pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-06"]).tz_localize("UTC")
    pd.DataFrame({"close": [1.0, 2.0, 6.0]}, index=pd.Index(stamps, name="date")).to_parquet(
        tmp_path / "U.parquet"
    )
    typed = read_prices(
        tmp_path / "U.parquet", trading_days=pd.bdate_range("2021-03-01", "2021-03-05")
    )
    assert closes(typed, "U") == {"2021-03-01": 1, "2021-03-02": 2}
    assert typed.quarantine["raw_date"].str.startswith("2021-03-06 00:00:00").all()


def test_every_way_of_writing_an_offset_or_zone_is_read_as_one(tmp_path):
    stamps = [
        "20210302T000000Z",  # ISO basic
        "2021-03-03T00+00:00",  # hour only
        "2021-03-04T00:00:00  +00:00",  # spaces before the offset
        "2021-03-05 00:00:00 UTC",
        "2021-03-08T00:00:00z",
        "2021-03-09 21:00:00 GMT",  # 16:00 in New York
    ]
    text = "Date,Close\n2021-03-01,1\n" + "".join(f"{s},{i}\n" for i, s in enumerate(stamps, 2))
    result = read_prices(write(tmp_path, "O.csv", text))
    days = ["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04", "2021-03-05"]
    assert list(closes(result, "O")) == [*days, "2021-03-08", "2021-03-09"]
    assert result.repairs["midnight_offset_ignored"] == 5
    assert result.repairs["timezone_normalised"] == 1
    # one form pandas reads as aware that no rule here knows: quarantined, the file still read
    odd = write(tmp_path, "Q.csv", "Date,Close\n2021-03-01,1\n2021-03-02 00:00:00+05:00:00,2\n")
    result = read_prices(odd)
    assert closes(result, "Q") == {"2021-03-01": 1} and balanced(result)
    assert result.quarantine[["reason", "raw_date"]].values.tolist() == [
        ["unparseable_date", "2021-03-02 00:00:00+05:00:00"]
    ]
    # a declared %Z format: a midnight stamp is the day written there too; a zone pandas does
    # not know (lower-case utc) is that cell's unparseable date, not a failed file
    zoned = write(
        tmp_path, "N.csv", "Date,Close\n2021-03-02 00:00:00 UTC,10\n2021-03-03 00:00:00 utc,11\n"
    )
    result = read_prices(zoned, dialect=CsvDialect(date_format="%Y-%m-%d %H:%M:%S %Z"))
    assert closes(result, "N") == {"2021-03-02": 10} and balanced(result)
    assert result.quarantine["reason"].tolist() == ["unparseable_date"]
    # declared %z formats where a letter comes before the offset (T, a month name)
    for fmt, text in (
        ("%Y%m%dT%H%M%S%z", "20210302T000000+0000"),
        ("%Y-%m-%dT%H%z", "2021-03-02T00+0000"),
        ("%d-%b-%Y%z", "02-Mar-2021+0000"),
    ):
        path = write(tmp_path, "F.csv", f"Date,Close\n{text},5\n")
        assert closes(read_prices(path, dialect=CsvDialect(date_format=fmt)), "F") == {
            "2021-03-02": 5
        }, fmt


def test_day_month_year_dates_with_dashes_are_dates_not_utc_offsets(tmp_path):
    for name, days in (
        ("MON", ["01-Aug-2017", "02-Aug-2017", "14-Aug-2017"]),
        ("DMY", ["01-08-2017", "02-08-2017", "14-08-2017"]),
        ("MDY", ["08-01-2017", "08-02-2017", "08-14-2017"]),
    ):
        text = "Date,Close\n" + "".join(f"{day},{i}\n" for i, day in enumerate(days, 1))
        result = read_prices(write(tmp_path, f"{name}.csv", text))
        assert closes(result, name) == {"2017-08-01": 1, "2017-08-02": 2, "2017-08-14": 3}, name
        assert result.rows_quarantined == 0 and "timezone_normalised" not in result.repairs


def test_a_file_that_is_not_utf8_names_the_line_and_column_or_reads_with_its_encoding(tmp_path):
    text = "Date,Ticker,Close\n2021-03-01,A,1\n\n2021-03-02,Zürich,2\n"
    latin = write(tmp_path, "L.csv", text, encoding="latin-1")
    with pytest.raises(
        DataError,
        match=r"L\.csv': line 4, column 'Ticker' is not utf-8 text \(invalid start byte in "
        r"b'Z\\xfcrich'\)\. Set the price source's encoding",
    ):
        read_prices(latin)
    result = read_prices(latin, dialect=CsvDialect(encoding="latin-1"))
    assert closes(result, "Zürich") == {"2021-03-02": 2} and balanced(result)
    header = write(tmp_path, "H.csv", "Date,Kurs€\n2021-03-01,1\n", encoding="cp1252")
    with pytest.raises(DataError, match=r"H\.csv': line 1 is not utf-8 text .*encoding"):
        read_prices(header)
    # a bad byte on a line set aside for its field count
    bad_line = tmp_path / "B.csv"
    bad_line.write_bytes(b"Date,Close\n2021-03-01,10\n\n2021-03-02,11,Z\xfcrich\n")
    with pytest.raises(DataError, match=r"B\.csv': line 4 is not utf-8 text .*encoding"):
        read_prices(bad_line)
    # lines ended by a bare carriage return are counted as the reader counts them
    mac = tmp_path / "M.csv"
    mac.write_bytes(b"Date,Close\r2021-03-01,1\r2021-03-02,2,\xe9\r")
    with pytest.raises(DataError, match=r"M\.csv': line 3 is not utf-8 text"):
        read_prices(mac)
    # Excel's "Unicode text": UTF-16 with a byte order mark, read whatever the dialect says
    utf16 = write(tmp_path, "W.csv", "Date,Close\n2021-03-01,7\n", encoding="utf-16")
    assert closes(read_prices(utf16), "W") == {"2021-03-01": 7}
    # UTF-32 with its mark, and a gzip file whose name is in capitals
    utf32 = write(tmp_path, "T.csv", "Date,Close\n2021-03-01,8\n", encoding="utf-32")
    assert closes(read_prices(utf32), "T") == {"2021-03-01": 8}
    with gzip.open(tmp_path / "G.CSV.GZ", "wb") as fh:
        fh.write("Date,Close\n2021-03-01,9\n".encode("utf-16"))
    assert closes(read_prices(tmp_path / "G.CSV.GZ"), "G") == {"2021-03-01": 9}
    for name in ("utf-9", "rot13", "zlib", "undefined"):  # bytes-to-bytes, or no text at all
        with pytest.raises(
            ConfigError, match=rf"`encoding` must be .* Received: encoding='{name}'"
        ):
            CsvDialect(encoding=name)


def test_byte_order_mark_before_the_header(tmp_path):
    path = write(tmp_path, "BOM.csv", "\ufeffDate,Close\n2021-03-01,4\n")
    assert closes(read_prices(path), "BOM") == {"2021-03-01": 4}


def test_abbreviated_volumes(tmp_path):
    path = write(
        tmp_path,
        "V.csv",
        "Date,Close,Volume\n2021-03-01,1,68.18K\n2021-03-02,1,1.2M\n2021-03-03,1,3b\n2021-03-04,1,500\n",
    )
    volumes = read_prices(path).prices["volume"].tolist()
    assert volumes == pytest.approx([68180, 1_200_000, 3e9, 500])


def test_all_zero_volume_index_is_accepted(tmp_path):
    path = write(tmp_path, "IDX.csv", "Date,Close,Volume\n2021-03-01,100,0\n2021-03-02,101,0\n")
    result = read_prices(path)
    assert result.rows_accepted == 2 and result.rows_quarantined == 0


def test_non_positive_prices_and_negative_volume_are_quarantined(tmp_path):
    path = write(
        tmp_path,
        "N.csv",
        "Date,Close,Volume\n2021-03-01,0,1\n2021-03-02,-1,1\n2021-03-03,5,-3\n2021-03-04,5,1\n",
    )
    result = read_prices(path)
    assert result.quarantined_by_reason() == {"negative_volume": 1, "non_positive_price": 2}
    assert result.rows_accepted == 1


def test_implausible_jump_is_flagged_and_a_split_list_adjusts_it(tmp_path):
    path = write(
        tmp_path,
        "SPL.csv",
        "Date,Close,Volume\n2020-08-27,500,10\n2020-08-28,504,10\n2020-08-31,127,40\n2020-09-01,130,40\n",
    )
    flagged = read_prices(path)
    assert flagged.rows_accepted == 4  # flagged, not dropped
    assert flagged.flags[["ticker", "kind"]].values.tolist() == [["SPL", "suspected_split"]]
    assert flagged.flags["date"].item() == pd.Timestamp("2020-08-31")
    assert flagged.flags["value"].item() == pytest.approx(127 / 504)

    adjusted = read_prices(path, splits=[Split("SPL", "2020-08-31", 4)])
    assert adjusted.flags.empty
    assert closes(adjusted, "SPL")["2020-08-28"] == pytest.approx(126)
    assert adjusted.prices["volume"].iloc[0] == 40
    assert adjusted.repairs["rows_split_adjusted"] == 2


def test_unsafe_ticker_names_are_kept_faithfully(tmp_path):
    path = write(tmp_path, "wide.csv", 'Date,../x,a/b,"with space",Zürich\n2021-03-01,1,2,3,4\n')
    tickers = set(read_prices(path).prices["ticker"])
    assert tickers == {"../x", "a/b", "with space", "Zürich"}


def test_non_trading_days_are_quarantined_and_missing_sessions_reported(tmp_path):
    path = write(
        tmp_path,
        "C.csv",
        "Date,Close\n2021-03-05,1\n2021-03-06,2\n2021-03-08,3\n2021-03-10,4\n",
    )
    sessions = pd.bdate_range("2021-03-01", "2021-03-12")
    result = read_prices(path, trading_days=sessions)
    assert result.quarantined_by_reason() == {"non_trading_day": 1}
    assert result.quarantine["date"].item() == pd.Timestamp("2021-03-06")
    assert result.missing_sessions == {"C": 1}  # 2021-03-09


def test_unparseable_dates_are_quarantined_with_the_raw_text(tmp_path):
    path = write(tmp_path, "B.csv", "Date,Close\n2021-03-01,1\nnot-a-date,2\nData by X,\n")
    result = read_prices(path, "2021-01-01", "2021-12-31")
    assert result.rows_read == 3 and balanced(result)
    q = result.quarantine
    assert q["reason"].tolist() == ["unparseable_date", "unparseable_date"]
    assert q["raw_date"].tolist() == ["not-a-date", "Data by X"]
    # filed with the dated row above them, so a run over any range reads them at most once
    assert q["date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-01", "2021-03-01"]
    assert read_prices(path, "2021-04-01", "2021-12-31").rows_read == 0


@pytest.mark.parametrize("day", ["1500-01-03", "2999-01-04"])
def test_a_day_outside_what_a_timestamp_holds_is_an_unparseable_date(tmp_path, day):
    # Every cell a date: the CSV reader types the column, and one day past 2262 or before 1677
    # used to stop the file with a pandas OutOfBoundsDatetime.
    text = f"Date,Close\n2021-03-01,1\n{day},2\n2021-03-02,3\n"
    result = read_prices(write(tmp_path, "Y.csv", text))
    assert balanced(result) and closes(result, "Y") == {"2021-03-01": 1.0, "2021-03-02": 3.0}
    q = result.quarantine
    assert q[["reason", "raw_date", "row_number"]].values.tolist() == [["unparseable_date", day, 3]]
    compact = text.replace("-", "").replace("Date", "Da-te")  # YYYYMMDD texts
    result = read_prices(write(tmp_path, "Z.csv", compact), column_map={"Da-te": "date"})
    assert result.quarantine["raw_date"].tolist() == [day.replace("-", "")]
    declared = read_prices(
        write(tmp_path, "W.csv", text), dialect=CsvDialect(date_format="%Y-%m-%d")
    )
    assert declared.quarantine["raw_date"].tolist() == [day]


def test_out_of_range_parquet_timestamps_are_unparseable_dates_with_their_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for tz in (None, "UTC"):
        stamps = pa.array(
            [
                pd.Timestamp("2021-03-01 15:00").to_pydatetime(),
                pd.Timestamp("1500-01-03").to_pydatetime(),
            ],
            pa.timestamp("us", tz=tz),
        )
        pq.write_table(pa.table({"date": stamps, "close": [1.0, 2.0]}), tmp_path / "P.parquet")
        result = read_prices(tmp_path / "P.parquet")
        assert balanced(result) and list(closes(result, "P")) == ["2021-03-01"]
        q = result.quarantine
        assert q["reason"].tolist() == ["unparseable_date"]
        assert q["raw_date"].str.startswith("1500-01-03").tolist() == [True]


def test_out_of_range_days_in_typed_parquet_columns_keep_the_other_rows_as_they_were(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = pa.array([18687, None, -172000, 18688], pa.date32())  # 2021-03-01, -, 1499, 03-02
    pq.write_table(pa.table({"date": days, "close": [1.0, 2.0, 3.0, -4.0]}), tmp_path / "D.parquet")
    result = read_prices(tmp_path / "D.parquet")
    assert balanced(result) and closes(result, "D") == {"2021-03-01": 1.0}
    q = result.quarantine
    assert q["reason"].tolist() == ["unparseable_date", "unparseable_date", "non_positive_price"]
    # only the out-of-range cell has its text; the typed in-range day is rendered as before
    assert q["raw_date"].fillna("<null>").tolist() == ["<null>", "1499-01-30", "2021-03-02"]


def test_utc_offsets_in_a_declared_format_and_bare_hour_offsets_give_the_exchange_day(tmp_path):
    text = "Date,Close\n2021-03-01T16:00:00+0500,1\nbad,2\n2021-03-02T23:30:00-0500,3\n"
    result = read_prices(
        write(tmp_path, "Z.csv", text), dialect=CsvDialect(date_format="%Y-%m-%dT%H:%M:%S%z")
    )
    assert closes(result, "Z") == {"2021-03-01": 1.0, "2021-03-02": 3.0}
    assert result.repairs["timezone_normalised"] == 2
    assert result.quarantine["raw_date"].tolist() == ["bad"]
    # +05 with no minutes, on a line with a wrong field count and on a good one
    text = "Date,Close\n2021-03-01,1\n2021-03-02T16:00:00+05,2,9\n2021-03-03T23:00:00-05,3\n"
    result = read_prices(write(tmp_path, "H.csv", text))
    assert closes(result, "H") == {"2021-03-01": 1.0, "2021-03-03": 3.0}
    q = result.quarantine
    assert q[["reason", "column", "raw_date"]].values.tolist() == [
        ["wrong_field_count", "<whole line>", "2021-03-02T16:00:00+05"]
    ]
    assert q["date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-02"]


def test_start_and_end_are_days_and_aware_bounds_use_the_exchange_day(tmp_path):
    path = write(tmp_path, "S.csv", "Date,Close\n2021-03-01,1\n2021-03-02,2\n2021-03-03,3\n")
    # 01:00 UTC on 3 March is still 2 March in New York; a time of day never drops its day
    aware = read_prices(path, pd.Timestamp("2021-03-03 01:00", tz="UTC"))
    assert list(closes(aware, "S")) == ["2021-03-02", "2021-03-03"]
    timed = read_prices(path, "2021-03-02 15:00", "2021-03-02 09:00")
    assert list(closes(timed, "S")) == ["2021-03-02"]


def test_undated_rows_at_the_top_go_with_the_row_below_and_are_read_once(tmp_path):
    path = write(tmp_path, "C.csv", "Date,Close\nn/a,1\n2021-03-01,1\n2021-03-02,2\n??,3\n")
    march_1 = read_prices(path, "2021-03-01", "2021-03-01")
    march_2 = read_prices(path, "2021-03-02", "2021-03-02")
    assert (march_1.rows_read, march_2.rows_read) == (2, 2)  # 4 rows in the file, each once
    assert march_1.quarantine["raw_date"].tolist() == ["n/a"]
    assert march_2.quarantine["raw_date"].tolist() == ["??"]


def test_impossible_values_in_other_columns_quarantine_the_row_naming_the_column(tmp_path):
    path = write(
        tmp_path,
        "Y.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-03-01,-3,2,1,2,2,100\n"
        "2021-03-02,1,0,1,2,2,100\n"
        "2021-03-03,1,2,1,inf,2,100\n"
        "2021-03-04,1,2,1,2,2,-100\n"
        "2021-03-05,1,2,1,2,inf,100\n"
        "2021-03-08,1,2,1,2,-,100\n"
        "2021-03-09,,,,2,2,\n",  # empty open/high/low/volume: kept as missing
    )
    result = read_prices(path)
    assert balanced(result) and result.rows_read == 7
    q = result.quarantine
    assert q[["column", "raw_value", "reason"]].values.tolist() == [
        ["Open", "-3", "non_positive_price"],
        ["High", "0", "non_positive_price"],
        ["Close", "inf", "non_finite_price"],
        ["Volume", "-100", "negative_volume"],
        ["Adj Close", "inf", "non_finite_price"],
        ["Adj Close", "-", "missing_price"],
    ]
    assert closes(result, "Y") == {"2021-03-09": 2}


def test_text_that_is_not_a_number_in_other_columns_is_quarantined_with_its_raw_value(tmp_path):
    path = write(
        tmp_path,
        "T.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-03-01,abc,2,1,2,2,100\n"
        '2021-03-02,1,2,1,"1,234.5",2,100\n'  # a thousands separator not declared
        "2021-03-03,1,2,1,2,2,lots\n"
        "2021-03-04,null,-,N/A,NaN,2,NA\n"  # missing markers: kept as missing
        "2021-03-05,1,2,1,2,2,1.2M\n",
    )
    result = read_prices(path)
    assert balanced(result) and result.rows_read == 5
    assert result.quarantine[["row_number", "column", "raw_value", "reason"]].values.tolist() == [
        [2, "Open", "abc", "unparseable_number"],
        [3, "Close", "1,234.5", "unparseable_number"],
        [4, "Volume", "lots", "unparseable_number"],
    ]
    assert closes(result, "T") == {"2021-03-04": 2, "2021-03-05": 2}
    kept = result.prices.set_index(result.prices["date"].dt.strftime("%Y-%m-%d"))
    assert kept.loc["2021-03-04", ["open", "high", "low", "close", "volume"]].isna().all()
    assert kept.loc["2021-03-05", "volume"] == 1_200_000
    declared = read_prices(path, dialect=CsvDialect(thousands=","))
    assert "2021-03-02" in closes(declared, "T")


def test_one_date_format_per_column_and_ambiguity_is_an_error(tmp_path):
    us = write(tmp_path, "US.csv", "Date,Close\n2021-03-01,1\n03/15/2021,2\n03/16/2021,3\n")
    assert list(closes(read_prices(us), "US")) == ["2021-03-01", "2021-03-15", "2021-03-16"]
    # 13/02 settles the column as day-first, so 01/02 is 1 February, never 2 January
    eu = write(tmp_path, "EU.csv", "Date,Close\n13/02/2021,1\n01/02/2021,2\n")
    assert closes(read_prices(eu), "EU") == {"2021-02-01": 2, "2021-02-13": 1}
    # a value no chosen format reads is quarantined, not guessed
    mixed = write(tmp_path, "MX.csv", "Date,Close\n03/15/2021,1\n03/16/2021,2\n17.03.2021,3\n")
    result = read_prices(mixed)
    assert list(closes(result, "MX")) == ["2021-03-15", "2021-03-16"]
    assert result.quarantine[["raw_date", "reason"]].values.tolist() == [
        ["17.03.2021", "unparseable_date"]
    ]
    ambiguous = write(tmp_path, "AM.csv", "Date,Close\n01/02/2021,1\n03/02/2021,2\n")
    with pytest.raises(
        DataError, match=r"Ambiguous dates in column 'Date' of .*AM.csv.*date_format"
    ):
        read_prices(ambiguous)
    with_format = read_prices(ambiguous, dialect=CsvDialect(date_format="%d/%m/%Y"))
    assert list(closes(with_format, "AM")) == ["2021-02-01", "2021-02-03"]


def test_blank_lines_keep_line_numbers_right(tmp_path):
    path = write(tmp_path, "BL.csv", "Date,Close\n2021-03-01,1\n\n2021-03-02,-\n")
    q = read_prices(path).quarantine
    assert q["row_number"].tolist() == [4]


def test_infinite_prices_are_quarantined(tmp_path):
    path = write(tmp_path, "INF.csv", "Date,Close\n2021-03-01,inf\n2021-03-02,1\n")
    result = read_prices(path)
    assert result.quarantined_by_reason() == {"non_finite_price": 1}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (",Date,A\n0,2021-03-01,1\n", r"Column 1 of .* has no header name"),
        ("Date,A,A\n2021-03-01,1,2\n", r"Column 'A' appears twice"),
        ("Date,Open,High,Low,Volume\n2021-03-01,1,2,3,4\n", r"no price column"),
    ],
    ids=["unnamed-index", "duplicate", "ohlc-without-close"],
)
def test_bad_headers_are_errors_not_tickers(tmp_path, header, message):
    with pytest.raises(DataError, match=message):
        read_prices(write(tmp_path, "H.csv", header))


def test_parquet_indexed_by_date(tmp_path):
    frame = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.bdate_range("2021-03-01", periods=2))
    frame.to_parquet(tmp_path / "IX.parquet")  # the unnamed index is stored as a column
    assert list(closes(read_prices(tmp_path / "IX.parquet"), "IX")) == ["2021-03-01", "2021-03-02"]


def test_timezone_aware_timestamps_across_a_dst_change(tmp_path):
    path = write(
        tmp_path,
        "DST.csv",
        "Date,Close\n2021-03-12T16:00:00-05:00,1\n2021-03-15T16:00:00-04:00,2\n",
    )
    assert list(closes(read_prices(path), "DST")) == ["2021-03-12", "2021-03-15"]
    stamps = pd.date_range("2021-03-11 16:00", periods=6, freq="D", tz="America/New_York")
    pd.DataFrame({"Date": stamps, "Close": range(1, 7)}).to_parquet(tmp_path / "NY.parquet")
    assert len(closes(read_prices(tmp_path / "NY.parquet"), "NY")) == 6


def test_strict_mode_turns_any_quarantine_into_an_error(tmp_path):
    path = write(tmp_path, "Q.csv", "Date,Close\n2021-03-01,1\n2021-03-02,null\n")
    with pytest.raises(DataError, match=r"Strict ingest: 1 of 2 rows .*line 3 ticker 'Q'.*'null'"):
        read_prices(path, strict=True)


def test_header_only_and_empty_files(tmp_path):
    header_only = write(tmp_path, "H.csv", "Date,Close\n")
    result = read_prices(header_only)
    assert result.rows_read == 0 and result.prices.empty
    with pytest.raises(DataError, match=r"Cannot read price file .*E.csv"):
        read_prices(write(tmp_path / "", "E.csv", ""))


def test_unknown_layout_names_the_file_and_columns(tmp_path):
    path = write(tmp_path, "odd.csv", "when,what\n1,2\n")
    with pytest.raises(
        DataError,
        match=r"Unknown price file layout in .*odd.csv.*no date column.*\['when', 'what'\]",
    ):
        read_prices(path)
    semicolons = write(tmp_path, "de.csv", "Datum;Kurs\n01.03.2021;1,5\n")
    with pytest.raises(
        DataError, match=r"Found columns: \['Datum;Kurs'\]. The header holds ';': set the source"
    ):
        read_prices(semicolons)


def test_bad_column_map_and_dialect_are_config_errors(tmp_path):
    path = write(tmp_path, "A.csv", "Date,Close\n2021-03-01,1\n")
    with pytest.raises(ConfigError, match=r"column_map\['Close'\]='price'"):
        read_prices(path, column_map={"Close": "price"})
    with pytest.raises(ConfigError, match=r"`decimal` must be '.' or ','"):
        CsvDialect(decimal=";")
    with pytest.raises(ConfigError, match=r"`ratio` must be > 0"):
        Split("A", "2021-03-01", 0)
    for bad in (-1, 0, float("nan"), "0.5"):
        with pytest.raises(ConfigError, match=r"`jump_threshold` must be a number > 0"):
            read_prices(path, jump_threshold=bad)


def test_missing_source_and_empty_folder_are_clear(tmp_path):
    with pytest.raises(DataError, match=r"does not exist"):
        read_prices(tmp_path / "nope")
    with pytest.raises(DataError, match=r"No price files"):
        read_prices(tmp_path)


def test_same_ticker_in_two_files_is_merged_and_overlaps_deduplicated(tmp_path):
    write(tmp_path, "2020.csv", "date,ticker,close\n2020-12-31,A,1\n2021-01-04,A,2\n")
    write(tmp_path, "2021.csv", "date,ticker,close\n2021-01-04,A,9\n2021-01-05,A,3\n")
    result = read_prices(tmp_path)
    assert closes(result, "A") == {"2020-12-31": 1, "2021-01-04": 2, "2021-01-05": 3}
    assert result.quarantined_by_reason() == {"duplicate_date": 1}
    assert result.duplicates_across_files == {
        "A": [str(tmp_path / "2020.csv"), str(tmp_path / "2021.csv")]
    }
    assert "1 ticker(s) have the same dates in several files, the first file's row kept" in (
        result.summary()
    )
    assert "'A': 2020.csv, 2021.csv" in result.summary()


def test_duplicates_inside_one_file_are_not_reported_as_across_files(tmp_path):
    write(tmp_path, "a.csv", "date,ticker,close\n2021-01-04,A,2\n2021-01-04,A,9\n")
    write(tmp_path, "b.csv", "date,ticker,close\n2021-01-05,A,3\n")
    result = read_prices(tmp_path)
    assert result.quarantined_by_reason() == {"duplicate_date": 1}
    assert result.duplicates_across_files == {}
    assert "several files" not in result.summary()


def test_a_glob_reads_each_matched_file_once_and_expands_the_home_folder(tmp_path, monkeypatch):
    for sub in ("", "a", "b"):
        (tmp_path / sub).mkdir(exist_ok=True)
        write(tmp_path / sub, "X.csv", f"Date,Close\n2021-03-0{len(sub) + 1 + (sub == 'b')},1\n")
    result = read_prices(f"{tmp_path}/**/**/X.csv")  # '**/**' matches a/X.csv twice
    assert len(result.files) == 3 and len(set(result.files)) == 3
    assert result.rows_read == 3 and result.quarantined_by_reason() == {}
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read_prices("~/a/*.csv").files == [str(tmp_path / "a" / "X.csv")]


def test_an_existing_folder_whose_name_looks_like_a_glob_is_read_as_a_folder(tmp_path):
    folder = tmp_path / "prices[2020]"
    folder.mkdir()
    write(folder, "A.csv", "Date,Close\n2021-03-01,1\n")
    assert set(read_prices(folder).prices["ticker"]) == {"A"}


def test_a_folder_with_only_subfolders_says_how_to_read_them(tmp_path):
    (tmp_path / "2021").mkdir()
    write(tmp_path / "2021", "A.csv", "Date,Close\n2021-03-01,1\n")
    with pytest.raises(DataError, match=r"subfolder\(s\) \['2021'\].*use a glob such as '.*/\*\*/"):
        read_prices(tmp_path)


def test_duplicates_in_two_files_on_different_dates_are_not_across_files(tmp_path):
    write(tmp_path, "a.csv", "date,ticker,close\n2021-03-01,X,1\n2021-03-01,X,2\n")
    write(tmp_path, "b.csv", "date,ticker,close\n2021-03-02,X,3\n2021-03-02,X,4\n")
    result = read_prices(tmp_path)
    assert result.quarantined_by_reason() == {"duplicate_date": 2}
    assert result.duplicates_across_files == {}


def test_whole_table_checks_agree_on_tickers_from_several_files(tmp_path):
    # One table through every check that works on ticker codes: the sort, the unsorted and
    # duplicate counts, the files a duplicate came from, the jump flags, the missing sessions.
    first = write(
        tmp_path,
        "2020.csv",
        "date,ticker,close\n2021-03-02,A,2\n2021-03-01,A,1.8\n2021-03-01,Zürich,5\n"
        "2021-03-03,Zürich,6\n",
    )
    second = write(
        tmp_path,
        "2021.csv",
        "date,ticker,close\n2021-03-02,A,9\n2021-03-04,A,30\n2021-03-01,B,7\n2021-03-04,B,8\n",
    )
    result = read_prices(tmp_path, trading_days=pd.bdate_range("2021-03-01", "2021-03-05"))
    assert balanced(result)
    assert list(zip(result.prices["ticker"], result.prices["date"].dt.day, strict=True)) == [
        ("A", 1), ("A", 2), ("A", 4), ("B", 1), ("B", 4), ("Zürich", 1), ("Zürich", 3),
    ]  # fmt: skip
    assert closes(result, "A") == {"2021-03-01": 1.8, "2021-03-02": 2, "2021-03-04": 30}
    assert result.quarantined_by_reason() == {"duplicate_date": 1}
    assert result.duplicates_across_files == {"A": [str(first), str(second)]}
    assert result.repairs == {"duplicate_rows_dropped": 1, "tickers_sorted_by_date": 1}
    assert result.missing_sessions == {"A": 1, "B": 2, "Zürich": 1}
    assert result.flags[["ticker", "kind", "value"]].values.tolist() == [
        ["A", "suspected_split", 15.0]
    ]


@pytest.mark.parametrize(
    "sessions",
    [
        pd.DatetimeIndex(["2021-03-01", "2021-03-02", "2021-03-02", "2021-03-03"]),  # listed twice
        pd.bdate_range("2021-03-01", "2021-03-03") + pd.Timedelta("9h30min"),  # opening times
        pd.bdate_range("2021-03-01", "2021-03-03", tz="UTC"),  # aware session labels
    ],
)
def test_sessions_are_days_each_counted_once(tmp_path, sessions):
    path = write(tmp_path, "X.csv", "Date,Close\n2021-03-01,1\n2021-03-03,2\n")
    result = read_prices(path, trading_days=sessions)
    assert result.rows_accepted == 2
    assert result.quarantined_by_reason() == {}
    assert result.missing_sessions == {"X": 1}  # 2021-03-02, once


def test_rows_without_a_ticker_are_quarantined_not_pooled(tmp_path):
    path = write(
        tmp_path,
        "long.csv",
        "date,ticker,close\n2021-03-01,A,1\n2021-03-01,,2\n2021-03-02, ,3\n2021-03-02,A,4\n",
    )
    result = read_prices(path)
    assert balanced(result)
    assert closes(result, "A") == {"2021-03-01": 1, "2021-03-02": 4}
    assert set(result.prices["ticker"]) == {"A"}
    q = result.quarantine
    assert q["reason"].tolist() == ["missing_ticker", "missing_ticker"]
    assert q["ticker"].tolist() == ["", " "]  # as written
    assert q["raw_value"].tolist() == ["2", "3"]
    assert q["row_number"].tolist() == [3, 4]


def test_bad_start_or_end_bounds_are_refused_by_name(tmp_path):
    path = write(tmp_path, "B.csv", "Date,Close\n2020-01-02,1\n2020-01-03,2\n")
    with pytest.raises(ConfigError, match=r"`start` must be a date .*start='2020-02-30'"):
        read_prices(path, start="2020-02-30")
    with pytest.raises(ConfigError, match=r"`end` must be a date .*end='soon'"):
        read_prices(path, end="soon")
    with pytest.raises(ConfigError, match=r"`start` must be on or before `end`"):
        read_prices(path, start="2020-01-09", end="2020-01-02")
    assert closes(read_prices(path, start="2020-01-03", end="2020-01-03"), "B") == {"2020-01-03": 2}


def test_an_undated_line_with_a_wrong_field_count_is_filed_with_the_row_above_it(tmp_path):
    path = write(
        tmp_path,
        "G.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-03-01,1,2,1,2,2,100\n"
        "2021-03-02,1,2,1,2,2,100\n"
        "garbage line without commas\n"
        "2021-03-03,1,2,1,2,2,100\n"
        "2021-03-31,1,2,1,2,2,100\n",
    )
    early = read_prices(path, start="2021-03-01", end="2021-03-05")
    assert balanced(early) and early.rows_read == 4
    q = early.quarantine
    assert q[["row_number", "raw_value", "reason"]].values.tolist() == [
        [4, "garbage line without commas", "unparseable_date"]
    ]
    assert q["date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-02"]
    # and a range after it does not read it again
    late = read_prices(path, start="2021-03-10", end="2021-03-31")
    assert late.rows_read == 1 and late.rows_quarantined == 0
