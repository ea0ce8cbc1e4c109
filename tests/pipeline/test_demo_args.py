"""finrnn-demo refuses bad options before anything runs, naming the option and the value."""

import pytest

from finrnn_pipeline.demo import build_parser, check_args


def refused(capsys, *argv) -> str:
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_:
        check_args(parser, parser.parse_args(list(argv)))
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_an_empty_or_impossible_date_is_a_usage_error(capsys):
    assert "--start must be a date YYYY-MM-DD. Received: ''" in refused(capsys, "--start", "")
    assert "--end must be a date YYYY-MM-DD. Received: '2018-02-30'" in refused(
        capsys, "--end", "2018-02-30"
    )
    assert "--cutoff must be a date YYYY-MM-DD. Received: 'xyz'" in refused(
        capsys, "--cutoff", "xyz"
    )


def test_a_range_too_short_for_a_cutoff_says_so_without_blaming_an_unset_option(capsys):
    before_first = refused(capsys, "--start", "2016-01-04", "--end", "2016-01-08")
    assert "2016-01-04..2016-01-08 ends before a retraining cut-off" in before_first
    assert "the first cut-off is 2016-01-08" in before_first and "--cutoff 2016" not in before_first
    one_day = refused(capsys, "--start", "2018-07-04", "--end", "2018-07-04")
    assert "2018-07-04..2018-07-04 holds no retraining cut-off" in one_day
    assert "the nearest is 2018-06-29" in one_day
    given = refused(
        capsys, "--start", "2018-07-02", "--end", "2018-07-31", "--cutoff", "2018-06-29"
    )
    assert given.endswith(
        "--cutoff 2018-06-29 must lie inside 2018-07-02..2018-07-31: training uses the days "
        "before it and predictions the days after it."
    )


def test_messages_name_the_dates_as_typed_not_the_weekdays_they_moved_to(capsys):
    # 2017-12-23 is a Saturday (the Monday after, 12-25, is Christmas); 2099-01-04 a Sunday
    holiday = refused(capsys, "--start", "2017-12-23", "--end", "2017-12-25")
    assert "2017-12-23..2017-12-25 holds no retraining cut-off" in holiday
    late = refused(capsys, "--start", "2017-10-07", "--end", "2099-01-04")
    assert "--end 2099-01-04 is after the last trading-day partition" in late


def test_an_end_with_a_time_of_day_is_compared_as_a_day(capsys):
    # `--end today` is the current time: it was refused as being after today's partition.
    import pandas as pd

    from finrnn_pipeline.partitions import trading_days

    last = trading_days.get_last_partition_key()
    parser = build_parser()
    args = check_args(
        parser, parser.parse_args(["--start", "2018-01-02", "--end", f"{last} 15:30"])
    )
    assert args.end == pd.Timestamp(last)


def test_a_storage_root_that_is_a_file_is_refused(tmp_path, capsys):
    a_file = tmp_path / "afile"
    a_file.write_text("")
    assert f"--storage-root '{a_file}' is a file, not a folder." in refused(
        capsys, "--storage-root", str(a_file)
    )


def test_the_last_line_shows_the_error_inside_any_dagster_execution_wrapper():
    from dagster._utils.error import SerializableErrorInfo

    from finrnn_pipeline.demo import _error_text

    cause = SerializableErrorInfo(
        "NotADirectoryError: [Errno 20] Not a directory: '/tmp/afile/raw_prices'\n",
        [],
        "NotADirectoryError",
    )
    for wrapper in ("DagsterExecutionHandleOutputError", "DagsterExecutionStepExecutionError"):
        outer = SerializableErrorInfo(
            'Error occurred while handling output "raw_prices"', [], wrapper, cause
        )
        assert _error_text(outer).startswith("NotADirectoryError: [Errno 20] Not a directory")


def test_a_weekend_only_range_is_named_as_given_and_said_to_hold_no_weekday(capsys):
    weekend = refused(capsys, "--start", "2017-10-07", "--end", "2017-10-08")
    assert weekend.endswith(
        "--start 2017-10-07 .. --end 2017-10-08 holds no trading day: the trading-day "
        "partitions are weekdays (Monday to Friday)."
    )
    assert "2017-10-09" not in weekend and "2017-10-06" not in weekend
    # a reversed range names the days as given too, not the weekdays they move to
    reversed_ = refused(capsys, "--start", "2017-10-08", "--end", "2017-10-07")
    assert reversed_.endswith("--start 2017-10-08 is after --end 2017-10-07.")
