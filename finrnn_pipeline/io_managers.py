"""Parquet storage of the daily tables: one hive partition folder per trading day."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

import dagster as dg
import pandas as pd

from finrnn_core.errors import DataError
from finrnn_core.storage import TABLE_SCHEMAS, missing_partitions, read_table, write_partitions
from finrnn_pipeline.resources import PriceSourceResource, StorageResource


def require_sessions(
    table_dir: Path,
    sessions: Iterable[pd.Timestamp],
    purpose: str,
    stored: Collection[str] | None = None,
) -> None:
    """Raise a DataError naming the trading sessions among ``sessions`` that ``table_dir`` has
    no partition for (``stored``: its partition dates, when the caller has listed them). A
    weekday that is not a session holds no rows, so it is never required."""
    keys = [f"{pd.Timestamp(day):%Y-%m-%d}" for day in sessions]
    if stored is None:
        missing = missing_partitions(table_dir, keys)
    else:
        present = set(stored)
        missing = [k for k in keys if k not in present]
    if missing:
        name = table_dir.name
        raise DataError(
            f"{name} is not materialized for {len(missing)} of the {len(keys)} trading sessions "
            f"{purpose} (first: {missing[:3]}). Materialize {name} for "
            f"{missing[0]}..{missing[-1]} first."
        )


class PartitionedParquetIOManager(dg.ConfigurableIOManager):
    """Writes ``<root>/<asset>/date=YYYY-MM-DD/part-0.parquet`` atomically; nothing is pickled."""

    storage: StorageResource
    price_source: PriceSourceResource  # its calendar says which weekdays are trading sessions

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        name = context.asset_key.path[-1]
        table_dir = self.storage.path(name)
        keys = list(context.asset_partition_keys)
        write_partitions(table_dir, obj, keys, TABLE_SCHEMAS[name])
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(table_dir)), "partitions_written": len(keys)}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        name = context.asset_key.path[-1]
        table_dir = self.storage.path(name)
        keys = list(context.asset_partition_keys)
        start, end = pd.Timestamp(keys[0]), pd.Timestamp(keys[-1])
        # a holiday's partition may never have been written (the daily schedule skips it)
        require_sessions(table_dir, self.price_source.sessions(start, end), "this step reads")
        return read_table(table_dir, start=start, end=end)


class NoPickleIOManager(dg.ConfigurableIOManager):
    """Bound as the default ``io_manager``, so no output can fall back to Dagster's pickling one.

    Every finrnn asset either names ``parquet_io_manager`` or returns a ``MaterializeResult``
    (the checkpoints write TensorFlow checkpoints and JSON themselves); an output that reaches
    this manager is a wiring mistake, and the run fails saying which asset it was.
    """

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return  # an output with nothing to store (e.g. a MaterializeResult's)
        raise dg.DagsterInvariantViolationError(
            f"{context.asset_key.to_user_string()} returned a {type(obj).__name__} without "
            "io_manager_key='parquet_io_manager'; finrnn stores tables as Parquet, never pickles."
        )

    def load_input(self, context: dg.InputContext) -> None:
        raise dg.DagsterInvariantViolationError(
            f"{context.asset_key.to_user_string()} has no stored value to load: finrnn tables "
            "load through parquet_io_manager, checkpoints from storage.path('rnn_checkpoints')."
        )
