"""Parquet storage of the daily tables: one hive partition folder per trading day."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from finrnn_core.errors import DataError
from finrnn_core.storage import TABLE_SCHEMAS, missing_partitions, read_table, write_partition
from finrnn_pipeline.resources import StorageResource


class PartitionedParquetIOManager(dg.ConfigurableIOManager):
    """Writes ``<root>/<asset>/date=YYYY-MM-DD/part-0.parquet`` atomically; nothing is pickled."""

    storage: StorageResource

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        name = context.asset_key.path[-1]
        table_dir = self.storage.path(name)
        keys = list(context.asset_partition_keys)
        by_date = {d.strftime("%Y-%m-%d"): rows for d, rows in obj.groupby("date", sort=True)}
        stray = sorted(set(by_date) - set(keys))
        if stray:
            raise DataError(
                f"{name}: rows dated {stray[:3]} are outside the partitions being written "
                f"({keys[0]}..{keys[-1]})."
            )
        for key in keys:
            rows = by_date.get(key, obj.iloc[0:0])
            write_partition(table_dir, key, rows, TABLE_SCHEMAS[name])
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(str(table_dir)), "partitions_written": len(keys)}
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        name = context.asset_key.path[-1]
        table_dir = self.storage.path(name)
        keys = list(context.asset_partition_keys)
        missing = missing_partitions(table_dir, keys)
        if missing:
            raise DataError(
                f"{name} is not materialized for {len(missing)} of the {len(keys)} dates this "
                f"step reads (first: {missing[:3]}). Materialize {name} for "
                f"{missing[0]}..{missing[-1]} first."
            )
        return read_table(table_dir, start=keys[0], end=keys[-1])
