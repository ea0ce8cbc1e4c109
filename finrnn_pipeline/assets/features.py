"""Features: causal per-ticker inputs computed from trailing prices only."""

import dagster as dg
import pandas as pd

from finrnn_core.features import FEATURE_COLUMNS, FEATURE_LOOKBACK, compute_features
from finrnn_pipeline.metadata import OWNERS, preview, table_definition_metadata
from finrnn_pipeline.partitions import date_bounds, trading_days

# Weekday partitions to load before the first date so every ticker has FEATURE_LOOKBACK prior
# prices even across holidays (at most a handful in seven weeks).
LOOKBACK_PARTITIONS = FEATURE_LOOKBACK + 15


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="parquet_io_manager",
    group_name="features",
    kinds={"parquet"},
    owners=OWNERS,
    metadata=table_definition_metadata("price_features"),
    ins={
        "raw_prices": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-LOOKBACK_PARTITIONS, allow_nonexistent_upstream_partitions=True
            )
        )
    },
)
def price_features(context: dg.AssetExecutionContext, raw_prices: pd.DataFrame) -> pd.DataFrame:
    """Model input features per ticker, each from prices on or before its date; a partition is one trading day."""
    start, end = date_bounds(context)
    features = compute_features(raw_prices)
    features = features[(features["date"] >= start) & (features["date"] <= end)]
    priced = raw_prices[(raw_prices["date"] >= start) & (raw_prices["date"] <= end)]
    short = sorted(set(priced["ticker"]) - set(features["ticker"]))
    if len(priced) > len(features):
        context.log.warning(
            f"{len(priced) - len(features)} price row(s) have no feature row yet: a ticker needs "
            f"{FEATURE_LOOKBACK} earlier prices first. Tickers with none in this range: "
            f"{', '.join(map(repr, short[:10])) or 'none'}{' ...' if len(short) > 10 else ''}."
        )
    context.add_output_metadata(
        {
            "rows": len(features),
            "price_rows_without_features": len(priced) - len(features),
            "tickers_without_features": len(short),
            "tickers": features["ticker"].nunique(),
            "feature_columns": ", ".join(FEATURE_COLUMNS),
            "first_date": start.strftime("%Y-%m-%d"),
            "last_date": end.strftime("%Y-%m-%d"),
            "preview": preview(features),
        }
    )
    return features
