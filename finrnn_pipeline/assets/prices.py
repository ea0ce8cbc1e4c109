"""Ingest: daily prices from the price source, and the rows that could not be accepted."""

import dagster as dg
import pandas as pd

from finrnn_pipeline.partitions import date_bounds, partition_dates, trading_days
from finrnn_pipeline.resources import PriceSourceResource


@dg.multi_asset(
    outs={
        "raw_prices": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            group_name="ingest",
            description="Accepted daily prices, one row per ticker; a partition is one trading day.",
            kinds={"parquet"},
        ),
        "price_quarantine": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            group_name="ingest",
            description="Price rows rejected on ingest with file, line, raw value and reason; "
            "a partition is one trading day.",
            kinds={"parquet"},
        ),
    },
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def ingest_prices(context: dg.AssetExecutionContext, price_source: PriceSourceResource):
    start, end = date_bounds(context)
    days = pd.DatetimeIndex(partition_dates(context))
    result = price_source.read(start, end, trading_days=days)
    # Rows dated on a weekend are stored with the trading day whose partition window holds them.
    quarantine = result.quarantine.copy()
    slot = days.searchsorted(quarantine["date"], side="right") - 1
    quarantine["date"] = days[slot.clip(min=0)]
    by_reason = result.quarantined_by_reason()
    prices = result.prices
    context.log.info(
        f"Read {result.rows_read} rows from {len(result.files)} file(s): "
        f"{result.rows_accepted} accepted, {result.rows_quarantined} quarantined {by_reason}."
    )
    yield dg.Output(
        prices,
        output_name="raw_prices",
        metadata={
            "rows_read": result.rows_read,
            "rows_accepted": result.rows_accepted,
            "rows_quarantined": result.rows_quarantined,
            **{f"quarantined_{k}": v for k, v in sorted(by_reason.items())},
            **{f"repair_{k}": v for k, v in sorted(result.repairs.items())},
            "tickers": prices["ticker"].nunique(),
            "first_date": start.strftime("%Y-%m-%d"),
            "last_date": end.strftime("%Y-%m-%d"),
            "dates_with_rows": prices["date"].nunique(),
            "source": dg.MetadataValue.path(str(price_source.resolved_path())),
        },
    )
    yield dg.Output(
        quarantine,
        output_name="price_quarantine",
        metadata={"rows": len(quarantine), **{k: v for k, v in sorted(by_reason.items())}},
    )
