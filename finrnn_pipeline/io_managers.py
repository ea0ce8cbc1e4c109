"""Parquet storage of the daily tables: one hive partition folder per trading day."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from finrnn_core.errors import DataError
from finrnn_core.storage import TABLE_SCHEMAS, missing_partitions, read_table, write_partitions
from finrnn_pipeline.resources import StorageResource


class PartitionedParquetIOManager(dg.ConfigurableIOManager):
    """Writes ``<root>/<asset>/date=YYYY-MM-DD/part-0.parquet`` atomically; nothing is pickled."""

    storage: StorageResource

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
        missing = missing_partitions(table_dir, keys)
        if missing:
            raise DataError(
                f"{name} is not materialized for {len(missing)} of the {len(keys)} dates this "
                f"step reads (first: {missing[:3]}). Materialize {name} for "
                f"{missing[0]}..{missing[-1]} first."
            )
        return read_table(table_dir, start=keys[0], end=keys[-1])
