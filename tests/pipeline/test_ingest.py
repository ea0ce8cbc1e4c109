import logging

import dagster as dg
import pandas as pd
import pytest

from finrnn_core.errors import ConfigError, DataError
from finrnn_core.storage import read_table
from finrnn_pipeline.resources import PriceSourceResource
from tests.pipeline.conftest import DAILY_INPUTS, run_assets, training_config

INGEST = ["raw_prices", "price_quarantine"]


def raw_prices_metadata(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata of the run's raw_prices materialization."""
    return next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "raw_prices"
    )


def run_warnings(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    """The WARNING lines of the run's log."""
    return [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]


def messy_folder(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "ABC.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2018-01-12,1,1,1,10,10,5\n"
        "2018-01-13,1,1,1,11,11,5\n"  # Saturday
        "2018-01-15,1,1,1,11,11,5\n"  # Martin Luther King Day: not an NYSE session
        "2018-01-16,1,1,1,null,null,5\n"
        "garbage line,1,1,1,1,1,1\n"
        "2018-01-17,1,1,1,12,12,5\n"
    )
    return folder


def test_calendar_holidays_weekends_and_bad_rows_are_quarantined_in_their_partitions(tmp_path):
    root = tmp_path / "store"
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(
        root,
        "2018-01-12",
        "2018-01-17",
        INGEST,
        price_path=str(messy_folder(tmp_path)),
        instance=instance,
    )
    assert result.success
    q = read_table(root / "price_quarantine")
    stored = sorted(zip(q["date"].dt.strftime("%Y-%m-%d"), q["reason"], q["raw_date"], strict=True))
    assert stored == [
        ("2018-01-12", "non_trading_day", "2018-01-13"),  # a Saturday row sits with Friday
        ("2018-01-15", "non_trading_day", "2018-01-15"),  # the holiday's own (empty) partition
        ("2018-01-16", "missing_price", "2018-01-16"),
        ("2018-01-16", "unparseable_date", "garbage line"),  # undated: with the row above it
    ]
    assert sorted(read_table(root / "raw_prices")["date"].dt.day) == [12, 17]

    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("rows_balance", True)]
    assert checks[0].metadata["rows_read"].value == 6


def test_rows_balance_fails_when_the_store_holds_rows_the_source_did_not_give(tmp_path):
    # A stray file in a day's folder (a copy left by hand, another writer) survives the
    # partition's rewrite and every reader would count its rows: the check must see that.
    root, folder = tmp_path / "store", messy_folder(tmp_path)
    assert run_assets(root, "2018-01-12", "2018-01-17", INGEST, price_path=str(folder)).success
    day = root / "raw_prices" / "date=2018-01-17"
    (day / "part-copy.parquet").write_bytes((day / "part-0.parquet").read_bytes())

    result = run_assets(root, "2018-01-12", "2018-01-17", INGEST, price_path=str(folder))
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("rows_balance", False)
    meta = {k: v.value for k, v in check.metadata.items()}
    assert meta == {"rows_read": 6, "rows_stored": 3, "rows_quarantined_stored": 4}
    assert (
        "6 rows read for 2018-01-12..2018-01-17, but raw_prices and price_quarantine hold 3 + 4"
        in (check.description)
    )
    assert result.success  # the check reports; the stored rows are kept for the user to look at


def test_strict_source_fails_the_run_naming_the_row(tmp_path):
    with pytest.raises(DataError, match=r"Strict ingest: 4 of 6 rows .*ABC.csv"):
        run_assets(
            tmp_path / "store",
            "2018-01-12",
            "2018-01-17",
            INGEST,
            price_source=PriceSourceResource(path=str(messy_folder(tmp_path)), strict=True),
        )


def test_a_range_the_source_does_not_cover_is_stored_empty_with_a_warning(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    folder = messy_folder(tmp_path)  # 2018-01-12..2018-01-17
    root = tmp_path / "store"
    result = run_assets(
        root, "2018-02-05", "2018-02-09", INGEST, price_path=str(folder), instance=instance
    )
    assert result.success
    (warning,) = [w for w in run_warnings(instance, result) if "No row" in w]
    assert "No row of the price source falls in 2018-02-05..2018-02-09: its 5 trading day(s)" in (
        warning
    )
    assert str(folder) in warning
    assert read_table(root / "raw_prices").empty


def test_unsafe_ticker_names_never_escape_the_storage_root(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "wide.csv").write_text(
        'Date,../../escape,a/b,"with space"\n2018-01-12,1,2,3\n2018-01-16,1,2,3\n'
    )
    root = tmp_path / "store"
    assert run_assets(root, "2018-01-12", "2018-01-16", INGEST, price_path=str(folder)).success
    stored = read_table(root / "raw_prices")
    assert set(stored["ticker"]) == {"../../escape", "a/b", "with space"}
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and root not in p.parents]
    assert sorted(p.name for p in outside) == ["wide.csv"]


def test_user_dialect_and_column_map_from_resource_config(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "eu.csv").write_text("Datum;Kurs\n12.01.2018;1.234,5\n16.01.2018;1.240,0\n")
    source = PriceSourceResource(
        path=str(folder / "*.csv"),
        column_map={"Datum": "date", "Kurs": "close"},
        delimiter=";",
        decimal=",",
        thousands=".",
        date_format="%d.%m.%Y",
    )
    root = tmp_path / "store"
    assert run_assets(root, "2018-01-12", "2018-01-16", INGEST, price_source=source).success
    assert read_table(root / "raw_prices")["adj_close"].tolist() == [1234.5, 1240.0]


def test_a_ticker_in_two_files_is_counted_and_warned_about(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "a_2017.csv").write_text("date,ticker,close\n2018-01-12,XYZ,10\n2018-01-16,XYZ,11\n")
    (folder / "b_2018.csv").write_text("date,ticker,close\n2018-01-16,XYZ,99\n2018-01-17,XYZ,12\n")
    root = tmp_path / "store"
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(
        root, "2018-01-12", "2018-01-17", INGEST, price_path=str(folder), instance=instance
    )
    assert result.success
    stored = read_table(root / "raw_prices")
    assert stored["adj_close"].tolist() == [10, 11, 12]  # the first file's 2018-01-16 row
    q = read_table(root / "price_quarantine")
    assert list(zip(q["reason"], q["raw_value"], strict=True)) == [("duplicate_date", "99")]
    meta = raw_prices_metadata(result)
    assert meta["tickers_in_several_files"].value == 1
    warnings = run_warnings(instance, result)
    assert any(
        "1 ticker(s) have rows for the same dates in several files (first: 'XYZ'" in w
        and "a_2017.csv" in w
        and "b_2018.csv" in w
        for w in warnings
    ), warnings


def test_a_subfolder_of_the_price_folder_is_reported_not_read(tmp_path):
    folder = tmp_path / "prices"
    (folder / "2018").mkdir(parents=True)
    (folder / "ABC.csv").write_text("date,close\n2018-01-12,10\n")
    (folder / "2018" / "XYZ.csv").write_text("date,close\n2018-01-12,20\n")
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(
        tmp_path / "store",
        "2018-01-12",
        "2018-01-12",
        INGEST,
        price_path=str(folder),
        instance=instance,
    )
    assert result.success
    meta = raw_prices_metadata(result)
    assert meta["folders_skipped"].value == 1
    warnings = run_warnings(instance, result)
    assert any("1 subfolder(s) of the price folder were not read" in w for w in warnings)
    assert any(str(folder / "2018") in w and "'DIR/**/*.csv'" in w for w in warnings)


def test_sample_ingest_reports_no_missing_sessions(tmp_path):
    result = run_assets(tmp_path, "2018-06-01", "2018-07-31", INGEST)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["missing_sessions"].value == 0
    assert meta["rows_read"].value == meta["rows_accepted"].value
    # 2018-07-04 is a holiday: an empty partition, not a failure
    assert read_table(tmp_path / "raw_prices", "2018-07-04", "2018-07-04").empty
    assert pd.Timestamp("2018-07-04") not in set(read_table(tmp_path / "raw_prices")["date"])


def test_a_ticker_too_short_for_the_window_is_skipped_and_reported(tmp_path, sample_dir):
    folder = tmp_path / "prices"
    folder.mkdir()
    sp500 = pd.read_parquet(sample_dir / "SP500.parquet")
    sp500[pd.to_datetime(sp500["Date"]) <= "2018-04-30"].to_parquet(folder / "SP500.parquet")
    # listed late: 22 prices give 2 feature rows, fewer than a 5-row window
    sp500[pd.to_datetime(sp500["Date"]).between("2018-03-29", "2018-04-30")].to_parquet(
        folder / "IPO.parquet"
    )
    root = tmp_path / "store"
    instance = dg.DagsterInstance.ephemeral()
    assert run_assets(root, "2018-01-02", "2018-02-28", INGEST, price_path=str(folder)).success
    source = {"price_path": str(folder), "instance": instance}
    runs = [
        run_assets(root, "2018-03-01", "2018-04-30", DAILY_INPUTS, **source),
        run_assets(
            root,
            "2018-04-27",
            "2018-04-27",
            ["rnn_checkpoint"],
            run_config={"ops": {"rnn_checkpoint": training_config()["ops"]["rnn_checkpoint"]}},
            **source,
        ),
        run_assets(root, "2018-03-01", "2018-04-30", ["predictions"], **source),
    ]
    assert all(r.success for r in runs)
    meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for r in runs
        for e in r.get_asset_materialization_events()
    }
    assert meta["rnn_checkpoint"]["tickers_skipped_short_history"].value == 1
    assert meta["rnn_checkpoint"]["tickers"].value == 1
    warnings = [
        e.user_message for e in instance.all_logs(runs[1].run_id) if "IPO" in e.user_message
    ]
    assert warnings and "no training window" in warnings[0]
    assert set(read_table(root / "predictions")["ticker"]) == {"SP500"}
    assert meta["predictions"]["rows_without_window"].value == 1  # IPO on 2018-04-30


def test_the_calendar_is_configured_per_source(tmp_path):
    """2018-05-07 is London's early-May bank holiday; New York trades that day."""
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "UKX.csv").write_text(
        "Date,Close\n2018-05-04,7567.1\n2018-05-07,7570.0\n2018-05-08,7565.8\n"
    )
    stored = {}
    for calendar in ("XNYS", "XLON"):
        root = tmp_path / calendar
        result = run_assets(
            root,
            "2018-05-04",
            "2018-05-08",
            INGEST,
            price_source=PriceSourceResource(path=str(folder), calendar=calendar),
        )
        assert result.success
        q = read_table(root / "price_quarantine")
        stored[calendar] = (
            sorted(read_table(root / "raw_prices")["date"].dt.strftime("%Y-%m-%d")),
            list(zip(q["reason"], q["raw_date"], strict=True)),
        )
    assert stored["XNYS"] == (["2018-05-04", "2018-05-07", "2018-05-08"], [])
    assert stored["XLON"] == (
        ["2018-05-04", "2018-05-08"],
        [("non_trading_day", "2018-05-07")],
    )


def test_the_encoding_is_configured_per_source(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "ch.csv").write_bytes(
        "Date,Ticker,Close\n2018-05-04,Zürich,1.5\n2018-05-07,Genève,2.5\n".encode("cp1252")
    )
    with pytest.raises(DataError, match=r"ch\.csv': line 2, column 'Ticker' is not utf-8 text"):
        run_assets(tmp_path / "utf8", "2018-05-04", "2018-05-07", INGEST, price_path=str(folder))
    root = tmp_path / "cp1252"
    source = PriceSourceResource(path=str(folder), encoding="cp1252")
    assert run_assets(root, "2018-05-04", "2018-05-07", INGEST, price_source=source).success
    stored = read_table(root / "raw_prices")
    assert sorted(zip(stored["ticker"], stored["adj_close"], strict=True)) == [
        ("Genève", 2.5),
        ("Zürich", 1.5),
    ]


def test_an_unknown_calendar_code_is_a_clear_error(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"`calendar` must be an exchange calendar code .* Received: calendar='XNOPE'",
    ):
        run_assets(
            tmp_path / "store",
            "2018-05-04",
            "2018-05-08",
            INGEST,
            price_source=PriceSourceResource(path=str(tmp_path), calendar="XNOPE"),
        )


def test_a_ticker_with_too_few_prices_for_any_feature_is_named_by_price_features(
    tmp_path, sample_dir
):
    folder = tmp_path / "prices"
    folder.mkdir()
    sp500 = pd.read_parquet(sample_dir / "SP500.parquet")
    sp500[pd.to_datetime(sp500["Date"]) <= "2018-04-30"].to_parquet(folder / "SP500.parquet")
    sp500[pd.to_datetime(sp500["Date"]).between("2018-04-24", "2018-04-27")].to_parquet(
        folder / "TINY.parquet"
    )
    root = tmp_path / "store"
    instance = dg.DagsterInstance.ephemeral()
    assert run_assets(root, "2018-02-01", "2018-03-30", INGEST, price_path=str(folder)).success
    result = run_assets(
        root, "2018-04-02", "2018-04-30", DAILY_INPUTS, price_path=str(folder), instance=instance
    )
    assert result.success
    features = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "price_features"
    )
    assert features["tickers_without_features"].value == 1
    assert features["price_rows_without_features"].value == 4
    warnings = [
        e.user_message for e in instance.all_logs(result.run_id) if "'TINY'" in e.user_message
    ]
    assert warnings and "4 price row(s) have no feature row yet" in warnings[0]


def test_a_range_whose_every_row_is_quarantined_fails_after_storing_the_quarantine(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "USD.csv").write_text(
        "Date,Close\n2018-03-01,$41.23\n2018-03-02,$41.50\n2018-03-05,$40.98\n"
    )
    root = tmp_path / "store"
    with pytest.raises(
        dg.Failure,
        match=r"Every one of the 3 rows read for 2018-03-01..2018-03-05 was quarantined "
        r"\(\{'unparseable_number': 3\}\).* No raw_prices day was written\.",
    ):
        run_assets(root, "2018-03-01", "2018-03-05", INGEST, price_path=str(folder))
    q = read_table(root / "price_quarantine")
    assert q["raw_value"].tolist() == ["$41.23", "$41.50", "$40.98"]
    # no empty raw_prices days that later runs would take for days ingested
    assert not (root / "raw_prices").exists() or not list((root / "raw_prices").iterdir())
    # a holiday with only an off-calendar row is a quiet day, not a broken source
    (folder / "USD.csv").write_text("Date,Close\n2018-01-15,41.0\n")
    assert run_assets(root, "2018-01-15", "2018-01-15", INGEST, price_path=str(folder)).success
