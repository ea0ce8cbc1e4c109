"""Sensors: ingest the dates a new or changed price file covers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd

from finrnn_core.calendar import exchange_timezone
from finrnn_core.prices import list_price_files, read_prices
from finrnn_pipeline.partitions import trading_days
from finrnn_pipeline.resources import PriceSourceResource

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def file_states(price_source: PriceSourceResource) -> dict[str, list[float]]:
    """`{path: [mtime, size]}` of every price file the source names."""
    states = {}
    for path in list_price_files(price_source.resolved_path()):
        stat = path.stat()
        states[str(path)] = [stat.st_mtime, stat.st_size]
    return states


def covered_dates(price_source: PriceSourceResource, files: list[str]) -> tuple[str, str] | None:
    """First and last date of the rows in `files` (read as the source reads them), or None."""
    dates = []
    for path in files:
        result = read_prices(
            path,
            exchange_tz=exchange_timezone(price_source.calendar),
            column_map=price_source.column_map,
            dialect=price_source.dialect(),
        )
        dates.append(result.prices["date"])
        dates.append(result.quarantine["date"])
    known = pd.concat(dates).dropna() if dates else pd.Series([], dtype="datetime64[ns]")
    if known.empty:
        return None
    return f"{known.min():%Y-%m-%d}", f"{known.max():%Y-%m-%d}"


def partition_range(first: str, last: str, keys: list[str]) -> tuple[str, str] | None:
    """The partition keys covering `[first, last]`, clipped to `keys` (sorted), or None.

    A weekend date belongs to the weekday before it, as ingest stores it there.
    """
    inside = [k for k in keys if k <= last]
    if not inside or inside[-1] < first:
        return None
    before = [k for k in inside if k <= first]
    start = before[-1] if before else inside[0]
    return start, inside[-1]


@dg.sensor(
    job_name="ingest_job",
    minimum_interval_seconds=60,
    description="Watches the price source's files; a new or changed file starts one ingest_job "
    "run over the trading days the changed files cover.",
)
def price_files_sensor(context: dg.SensorEvaluationContext, price_source: PriceSourceResource):
    """Request an ingest run for the dates of new or changed price files, else skip."""
    seen = json.loads(context.cursor) if context.cursor else {}
    now = file_states(price_source)
    changed = sorted(path for path, state in now.items() if seen.get(path) != state)
    if not changed:
        return dg.SkipReason(f"No new or changed price file in {price_source.resolved_path()}.")
    context.update_cursor(json.dumps(now, sort_keys=True))
    covered = covered_dates(price_source, changed)
    keys = trading_days.get_partition_keys()
    span = covered and partition_range(*covered, keys)
    if not span:
        return dg.SkipReason(
            f"{len(changed)} changed file(s) hold no date inside the partitions "
            f"{keys[0]}..{keys[-1]}: {', '.join(Path(p).name for p in changed[:5])}."
        )
    run_key = hashlib.sha256(
        json.dumps({p: now[p] for p in changed}, sort_keys=True).encode()
    ).hexdigest()[:16]
    context.log.info(f"{len(changed)} changed price file(s) cover {span[0]}..{span[1]}.")
    return dg.RunRequest(run_key=run_key, tags={RANGE_START_TAG: span[0], RANGE_END_TAG: span[1]})
