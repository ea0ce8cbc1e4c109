"""Resources: where prices come from, where tables and checkpoints go, which device trains."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from finrnn_core.prices import PriceIngest, read_prices

SAMPLE_DATA_DIR = Path(__file__).parent / "sample_data"


class PriceSourceResource(dg.ConfigurableResource):
    """Daily price files: the bundled real sample, or a file / folder of the user's own."""

    path: str = Field(
        default="",
        description=(
            "A price file or a folder of CSV, CSV.gz or Parquet price files (wide close tables "
            "or one OHLCV file per ticker). Empty: the bundled real sample "
            "(20 US large caps and the S&P 500 index, 2016-2018)."
        ),
    )

    def resolved_path(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else SAMPLE_DATA_DIR

    def read(
        self, start: pd.Timestamp, end: pd.Timestamp, trading_days: pd.DatetimeIndex
    ) -> PriceIngest:
        return read_prices(self.resolved_path(), start, end, trading_days=trading_days)


class StorageResource(dg.ConfigurableResource):
    """The one folder under which every table and checkpoint of the pipeline is written."""

    root: str = Field(
        default="finrnn_data",
        description="Storage root; relative paths are taken from the working directory.",
    )

    def path(self, name: str) -> Path:
        return Path(self.root).expanduser().resolve() / name


class ComputeResource(dg.ConfigurableResource):
    """The device training runs on, passed through to finrnn_core models."""

    device: str = Field(default="cpu", description='"cpu" or "gpu".')
    device_num: int = Field(default=0, description="GPU index when device is gpu.")
    strict_device: bool = Field(
        default=False,
        description="Fail instead of falling back to CPU when the requested GPU is absent.",
    )
