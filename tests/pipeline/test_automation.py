import datetime as dt
import json
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from finrnn_core.storage import read_table
from finrnn_pipeline.definitions import build_resources, defs
from finrnn_pipeline.resources import PriceSourceResource
from finrnn_pipeline.schedules import daily_predictions_schedule, weekly_retraining_schedule
from finrnn_pipeline.sensors import price_files_sensor
from tests.conftest import REPO

NEW_YORK = ZoneInfo("America/New_York")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def tick(when: dt.datetime):
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return daily_predictions_schedule.evaluate_tick(context)


def test_schedule_runs_weekdays_at_1830_new_york_time_on_the_daily_job():
    assert daily_predictions_schedule.cron_schedule == "30 18 * * 1-5"
    assert daily_predictions_schedule.execution_timezone == "America/New_York"
    assert daily_predictions_schedule.job_name == "daily_predictions_job"
    job = defs.resolve_job_def("daily_predictions_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "raw_prices",
        "price_quarantine",
        "price_features",
        "predictions",
        "prediction_scores",
    }


def test_a_trading_day_requests_its_own_partition():
    data = tick(dt.datetime(2018, 7, 3, 18, 30, tzinfo=NEW_YORK))
    [request] = data.run_requests
    assert request.partition_key == "2018-07-03"
    job = defs.resolve_job_def("daily_predictions_job")
    resolved = request.with_resolved_tags_and_config(job, [], None)
    assert resolved.tags["dagster/partition"] == "2018-07-03"


def test_the_day_is_taken_in_new_york_not_in_the_machines_or_utc_time_zone():
    # 2018-07-06 01:00 UTC is still Thursday 2018-07-05 in New York
    data = tick(dt.datetime(2018, 7, 6, 1, 0, tzinfo=dt.UTC))
    assert [r.partition_key for r in data.run_requests] == ["2018-07-05"]


def test_weekly_retraining_trains_every_model_at_that_fridays_cutoff():
    assert weekly_retraining_schedule.cron_schedule == "45 18 * * 5"
    assert weekly_retraining_schedule.execution_timezone == "America/New_York"
    job = defs.resolve_job_def(weekly_retraining_schedule.job_name)
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "lstm_checkpoint",
        "gru_checkpoint",
        "rnn_checkpoint",
    }
    context = dg.build_schedule_context(
        # Friday evening in New York is Saturday in UTC: the cut-off is still the Friday
        scheduled_execution_time=dt.datetime(2018, 4, 14, 0, 0, tzinfo=dt.UTC),
        repository_def=defs.get_repository_def(),
    )
    [request] = weekly_retraining_schedule.evaluate_tick(context).run_requests
    assert (request.partition_key, request.run_key) == ("2018-04-13", "retrain-2018-04-13")
    resolved = request.with_resolved_tags_and_config(job, [], None)
    assert resolved.tags["dagster/partition"] == "2018-04-13"


def test_weekly_retraining_skips_a_day_that_is_no_cutoff():
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2018, 4, 12, 18, 45, tzinfo=NEW_YORK),
        repository_def=defs.get_repository_def(),
    )
    data = weekly_retraining_schedule.evaluate_tick(context)
    assert not data.run_requests
    assert "2018-04-12 is not a retraining cut-off" in data.skip_message


def test_a_custom_cutoff_cron_still_trains_in_the_evening_after_the_daily_run():
    # monthly cut-offs: "0 0 1 * *" names the day; training at midnight would miss its prices
    code = (
        "from finrnn_pipeline.schedules import weekly_retraining_schedule as s; "
        "print(s.cron_schedule); print(s.description)"
    )
    env = {**os.environ, "FINRNN_RETRAIN_CRON": "0 0 1 * *"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    cron, description = out.stdout.splitlines()[:2]
    assert cron == "45 18 1 * *"
    assert "18:45 New York time" in description and "(0 0 1 * *" in description


@pytest.mark.parametrize(
    ("day", "why"),
    [(dt.date(2018, 7, 4), "Independence Day"), (dt.date(2018, 7, 7), "a Saturday")],
)
def test_non_sessions_are_skipped(day, why):
    data = tick(dt.datetime(day.year, day.month, day.day, 18, 30, tzinfo=NEW_YORK))
    assert not data.run_requests, why
    assert data.skip_message == f"{day:%Y-%m-%d} is not an XNYS trading session."


def yahoo(path, rows):
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    lines += [f"{d},1,1,1,{c},{c},100" for d, c in rows]
    path.write_text("\n".join(lines) + "\n")


def sense(folder, cursor=None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"price_source": PriceSourceResource(path=str(folder))}
    )
    return price_files_sensor.evaluate_tick(context)


def test_sensor_requests_the_range_new_or_changed_files_cover_and_skips_otherwise(tmp_path):
    prices = tmp_path / "prices"
    prices.mkdir()
    yahoo(prices / "AAA.csv", [("2018-01-02", 10), ("2018-01-05", 11)])
    yahoo(prices / "BBB.csv", [("2018-01-08", 20), ("2018-01-10", 21)])

    first = sense(prices)
    [request] = first.run_requests
    assert price_files_sensor.job_name == "ingest_job"
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2018-01-02", "2018-01-10")
    assert set(json.loads(first.cursor)) == {str(prices / "AAA.csv"), str(prices / "BBB.csv")}

    second = sense(prices, first.cursor)
    assert not second.run_requests
    assert second.skip_message.startswith("No new or changed price file")

    yahoo(prices / "BBB.csv", [("2018-01-08", 20), ("2018-01-10", 21), ("2018-01-13", 22)])
    third = sense(prices, second.cursor or first.cursor)
    [request] = third.run_requests
    # only BBB changed; its Saturday row is ingested with Friday 2018-01-12
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2018-01-08", "2018-01-12")
    assert request.run_key != first.run_requests[0].run_key

    stat = (prices / "AAA.csv").stat()
    os.utime(prices / "AAA.csv", (stat.st_atime, stat.st_mtime + 60))  # touched, same bytes
    fourth = sense(prices, third.cursor)
    [request] = fourth.run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2018-01-02", "2018-01-05")


def test_files_outside_the_partitions_are_skipped(tmp_path):
    prices = tmp_path / "prices"
    prices.mkdir()
    yahoo(prices / "OLD.csv", [("2015-06-01", 10), ("2015-06-02", 11)])
    data = sense(prices)
    assert not data.run_requests
    assert "hold no date inside the partitions 2016-01-04.." in data.skip_message
    assert sense(prices, data.cursor).skip_message.startswith("No new or changed price file")


def test_the_sensors_run_request_ingests_the_covered_days(tmp_path):
    prices = tmp_path / "prices"
    prices.mkdir()
    yahoo(prices / "AAA.csv", [("2018-01-02", 10), ("2018-01-03", 11), ("2018-01-04", 12)])
    [request] = sense(prices).run_requests
    result = defs.resolve_job_def("ingest_job").execute_in_process(
        resources=build_resources(str(tmp_path / "store"), str(prices)), tags=request.tags
    )
    assert result.success
    stored = read_table(tmp_path / "store" / "raw_prices")
    assert [f"{d:%Y-%m-%d}" for d in stored["date"]] == ["2018-01-02", "2018-01-03", "2018-01-04"]
