"""Ingest: daily prices from the price source, and the rows that could not be accepted."""

import dagster as dg
import pandas as pd

from finrnn_core.storage import read_table
from finrnn_pipeline.metadata import OWNERS, table_definition_metadata
from finrnn_pipeline.partitions import date_bounds, partition_dates, trading_days
from finrnn_pipeline.resources import PriceSourceResource, StorageResource


def _partition_of(dates: pd.Series, days: pd.DatetimeIndex) -> pd.Series:
    """The partition a quarantined row is stored in: its own day, else the weekday before it
    (a weekend row), else the run's last day (a row whose date could not be read)."""
    slot = days.searchsorted(dates.fillna(days[-1]), side="right") - 1
    return pd.Series(days[slot.clip(min=0)], index=dates.index)


@dg.multi_asset(
    outs={
        "raw_prices": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            group_name="ingest",
            description="Accepted daily prices, one row per ticker; a partition is one trading day.",
            kinds={"parquet"},
            metadata=table_definition_metadata("raw_prices"),
            owners=OWNERS,
        ),
        "price_quarantine": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            group_name="ingest",
            description="Price rows rejected on ingest with file, line, raw values and reason; "
            "a partition is one trading day.",
            kinds={"parquet"},
            metadata=table_definition_metadata("price_quarantine"),
            owners=OWNERS,
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "rows_balance",
            asset="raw_prices",
            description="Rows read equal rows stored in raw_prices plus price_quarantine.",
        )
    ],
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def ingest_prices(
    context: dg.AssetExecutionContext, price_source: PriceSourceResource, storage: StorageResource
):
    start, end = date_bounds(context)
    result = price_source.read(start, end)
    days = pd.DatetimeIndex(partition_dates(context))
    quarantine = result.quarantine.assign(date=_partition_of(result.quarantine["date"], days))
    by_reason = result.quarantined_by_reason()
    context.log.info(result.summary())
    if len(result.flags):
        context.log.warning(
            f"{len(result.flags)} one-day moves look like unadjusted splits or scale glitches "
            f"(first: {result.flags.iloc[0]['ticker']} on {result.flags.iloc[0]['date']:%Y-%m-%d}); "
            "add them to the price source's splits if they are."
        )
    if result.folders_skipped:
        context.log.warning(
            f"{len(result.folders_skipped)} subfolder(s) of the price folder were not read "
            f"({', '.join(result.folders_skipped[:5])}): a folder source reads only its own "
            "files; point it at a glob such as 'DIR/**/*.csv' to read subfolders too."
        )
    sessions = len(price_source.sessions(start, end))
    if not result.rows_read and sessions:
        context.log.warning(
            f"No row of the price source falls in {start:%Y-%m-%d}..{end:%Y-%m-%d}: its "
            f"{sessions} trading day(s) are stored empty. Check that "
            f"{price_source.resolved_path()} covers this range (the run goes on: a day can "
            "come before its prices do)."
        )
    if result.duplicates_across_files:
        ticker, files = next(iter(result.duplicates_across_files.items()))
        context.log.warning(
            f"{len(result.duplicates_across_files)} ticker(s) have rows for the same dates in "
            f"several files (first: {ticker!r} in {', '.join(files)}); the first file's row is "
            "kept and the others are in price_quarantine as duplicate_date."
        )
    # A range with trading days and no usable row is a broken source, not a quiet day: its
    # quarantine is stored, but no (empty) raw_prices day is, which later runs would take for
    # a day ingested.
    broken = bool(result.rows_read and not result.rows_accepted and sessions)
    if broken:
        yield dg.Output(
            quarantine,
            output_name="price_quarantine",
            metadata={"rows": len(quarantine), **by_reason},
        )
        raise dg.Failure(
            description=f"Every one of the {result.rows_read} rows read for "
            f"{start:%Y-%m-%d}..{end:%Y-%m-%d} was quarantined ({by_reason}); see "
            f"price_quarantine for each row's file, line, column and raw value. No raw_prices "
            "day was written.",
            allow_retries=False,
        )
    yield dg.Output(
        result.prices,
        output_name="raw_prices",
        metadata={
            "rows_read": result.rows_read,
            "rows_accepted": result.rows_accepted,
            "rows_quarantined": result.rows_quarantined,
            **{f"quarantined_{k}": v for k, v in by_reason.items()},
            **{f"repair_{k}": v for k, v in result.repairs.items()},
            "suspected_splits": len(result.flags),
            "tickers_in_several_files": len(result.duplicates_across_files),
            "missing_sessions": sum(result.missing_sessions.values()),
            "tickers": result.prices["ticker"].nunique(),
            "first_date": start.strftime("%Y-%m-%d"),
            "last_date": end.strftime("%Y-%m-%d"),
            "dates_with_rows": result.prices["date"].nunique(),
            "files": len(result.files),
            "files_skipped": len(result.files_skipped),
            "folders_skipped": len(result.folders_skipped),
            "source": dg.MetadataValue.path(price_source.resolved_path()),
        },
    )
    yield dg.Output(
        quarantine,
        output_name="price_quarantine",
        metadata={"rows": len(quarantine), **by_reason},
    )
    # Count what actually landed on disk, independently of the reader's own bookkeeping.
    stored_prices = len(read_table(storage.path("raw_prices"), start, end, columns=["ticker"]))
    stored_quarantine = len(
        read_table(storage.path("price_quarantine"), start, end, columns=["ticker"])
    )
    balanced = result.rows_read == stored_prices + stored_quarantine
    yield dg.AssetCheckResult(
        check_name="rows_balance",
        asset_key="raw_prices",
        passed=balanced,
        description=None
        if balanced
        else f"{result.rows_read} rows read for {start:%Y-%m-%d}..{end:%Y-%m-%d}, but "
        f"raw_prices and price_quarantine hold {stored_prices} + {stored_quarantine} for those "
        f"days under {storage.path('raw_prices')} and {storage.path('price_quarantine')}: look "
        "for files in the day folders that this run did not write.",
        metadata={
            "rows_read": result.rows_read,
            "rows_stored": stored_prices,
            "rows_quarantined_stored": stored_quarantine,
        },
    )
