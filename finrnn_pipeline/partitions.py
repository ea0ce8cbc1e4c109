"""The trading-day partitioning shared by every daily asset."""

from __future__ import annotations

import os

import dagster as dg
import pandas as pd

PARTITIONS_START = os.environ.get("FINRNN_PARTITIONS_START", "2016-01-04")

# One partition per weekday, keyed YYYY-MM-DD. An exchange holiday is a partition with no rows.
# end_offset=1: today's partition exists from midnight on, so the after-close schedule can run it
# the same evening (otherwise a day's partition would only exist once the next weekday began).
trading_days = dg.TimeWindowPartitionsDefinition(
    start=PARTITIONS_START,
    cron_schedule="0 0 * * 1-5",
    fmt="%Y-%m-%d",
    timezone="America/New_York",
    end_offset=1,
)


# One partition per retraining cut-off, keyed by the cut-off date: Fridays by default, so a
# checkpoint trained on a week's last session is there for the next week's predictions. Any cron
# works (e.g. "0 0 1 * *" for the first of each month); end_offset=1 makes the current period's
# cut-off exist on its own day, for the evening retraining schedule.
RETRAIN_CRON = os.environ.get("FINRNN_RETRAIN_CRON", "0 0 * * 5")
retrain_cutoffs = dg.TimeWindowPartitionsDefinition(
    start=PARTITIONS_START,
    cron_schedule=RETRAIN_CRON,
    fmt="%Y-%m-%d",
    timezone="America/New_York",
    end_offset=1,
)


def partition_dates(context: dg.AssetExecutionContext) -> list[str]:
    """The partition keys (dates) this run materializes: one key, or every key of a range."""
    return list(context.partition_keys)


def date_bounds(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last date (inclusive) of the run's partition range."""
    keys = partition_dates(context)
    return pd.Timestamp(keys[0]), pd.Timestamp(keys[-1])
