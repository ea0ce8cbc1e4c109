"""Schedules: the daily after-close run of ingest, features, predictions and their scores."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import dagster as dg

from finrnn_core.calendar import trading_sessions
from finrnn_pipeline.partitions import trading_days

SCHEDULE_CALENDAR = "XNYS"
SCHEDULE_TIMEZONE = "America/New_York"

daily_predictions_job = dg.define_asset_job(
    "daily_predictions_job",
    selection=[
        "raw_prices",
        "price_quarantine",
        "price_features",
        "predictions",
        "prediction_scores",
    ],
    partitions_def=trading_days,
    description="One trading day: ingest its prices, compute its features, predict it with the "
    "newest checkpoints and score the predictions whose realized value is known.",
)


@dg.schedule(
    cron_schedule="30 18 * * 1-5",
    execution_timezone=SCHEDULE_TIMEZONE,
    job=daily_predictions_job,
    description="Weekdays at 18:30 New York time: the day's partition of daily_predictions_job, "
    "skipped on days the NYSE (XNYS) is closed.",
)
def daily_predictions_schedule(context: dg.ScheduleEvaluationContext):
    """Request the partition of the scheduled day, or skip when it is not an XNYS session."""
    local = context.scheduled_execution_time.astimezone(ZoneInfo(SCHEDULE_TIMEZONE))
    day = local.strftime("%Y-%m-%d")
    if len(trading_sessions(SCHEDULE_CALENDAR, day, day)) == 0:
        return dg.SkipReason(f"{day} is not an {SCHEDULE_CALENDAR} trading session.")
    return dg.RunRequest(run_key=day, partition_key=day)
