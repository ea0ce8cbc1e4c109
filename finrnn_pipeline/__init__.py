"""finrnn_pipeline: the Dagster assets, resources and jobs around finrnn_core."""

import warnings

import dagster as dg

# Single-run backfills and lookback partition mappings are the design, not an experiment; their
# beta notices would print on every load of the definitions.
warnings.filterwarnings(
    "ignore",
    message=r"Parameter `(backfill_policy|allow_nonexistent_upstream_partitions)`",
    category=dg.BetaWarning,
)
