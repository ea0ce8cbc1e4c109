"""Schedules: the daily after-close run of ingest, features, predictions and their scores, and
the weekly retraining of every model at that week's cut-off."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import dagster as dg

from finrnn_core.calendar import trading_sessions
from finrnn_core.errors import ConfigError
from finrnn_pipeline.partitions import RETRAIN_CRON, retrain_cutoffs

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
    day = _scheduled_day(context)
    if len(trading_sessions(SCHEDULE_CALENDAR, day, day)) == 0:
        return dg.SkipReason(f"{day} is not an {SCHEDULE_CALENDAR} trading session.")
    return dg.RunRequest(run_key=day, partition_key=day)


retraining_job = dg.define_asset_job(
    "retraining_job",
    selection=["lstm_checkpoint", "gru_checkpoint", "rnn_checkpoint"],
    description="Train every model at a range of cut-offs in one run, each warm-started from "
    "the cut-off before it.",
)


def _evening(cron: str) -> str:
    """``cron``'s days at 18:45, after the 18:30 daily run: a cut-off trains once its day's
    prices and features are in, whatever time of day the cut-off cron names."""
    days = cron.split()[2:]
    if len(days) != 3:
        raise ConfigError(f"FINRNN_RETRAIN_CRON must have 5 fields. Received: {cron!r}")
    return " ".join(["45", "18", *days])


@dg.schedule(
    cron_schedule=_evening(RETRAIN_CRON),
    execution_timezone=SCHEDULE_TIMEZONE,
    job=retraining_job,
    description=f"At 18:45 New York time on each retraining cut-off ({RETRAIN_CRON}: Fridays "
    "unless FINRNN_RETRAIN_CRON says otherwise), after the daily run: retrain every model at "
    "that day's cut-off, warm from the one before.",
)
def weekly_retraining_schedule(context: dg.ScheduleEvaluationContext):
    """Request the cut-off partition of the scheduled day, or skip when there is none."""
    day = _scheduled_day(context)
    if not retrain_cutoffs.has_partition_key(day):
        return dg.SkipReason(f"{day} is not a retraining cut-off ({RETRAIN_CRON}).")
    return dg.RunRequest(run_key=f"retrain-{day}", partition_key=day)


def _scheduled_day(context: dg.ScheduleEvaluationContext) -> str:
    """The tick's date in the exchange's time zone (YYYY-MM-DD), whatever the machine's is."""
    local = context.scheduled_execution_time.astimezone(ZoneInfo(SCHEDULE_TIMEZONE))
    return local.strftime("%Y-%m-%d")
