"""Resources: where prices come from, where tables and checkpoints go, which device trains."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from finrnn_core.calendar import exchange_timezone, trading_sessions
from finrnn_core.devices import ComputeConfig, DevicePlan, lease_devices
from finrnn_core.distribute import make_strategy
from finrnn_core.errors import ConfigError
from finrnn_core.prices import CsvDialect, PriceIngest, Split, read_prices

SAMPLE_DATA_DIR = Path(__file__).parent / "sample_data"


class SplitConfig(dg.Config):
    """A stock split to adjust for."""

    ticker: str = Field(description="Ticker as it appears in the data.")
    date: str = Field(description="First trading day at the new price (YYYY-MM-DD).")
    ratio: float = Field(description="Shares after / before (4 for a 4-for-1 split).")


class PriceSourceResource(dg.ConfigurableResource):
    """Daily price files: the bundled real sample, or a file / folder / glob of the user's own."""

    path: str = Field(
        default="",
        description="A price file, a folder, or a glob of CSV / CSV.gz / TXT / Parquet files "
        "(Yahoo, Kaggle, Stooq, long, wide or single-series layouts). Empty: the bundled real "
        "sample (20 US large caps and the S&P 500 index, 2016-2018).",
    )
    calendar: str = Field(
        default="XNYS",
        description="Exchange calendar code (exchange_calendars: XNYS, XLON, XTKS, ...) or "
        "'weekdays'. Rows on other days are quarantined; timezone-aware timestamps are read "
        "in this exchange's time zone.",
    )
    column_map: dict[str, str] = Field(
        default_factory=dict,
        description="Explicit {file header: name}, names among date, ticker, open, high, low, "
        "close, adj_close, volume; for headers the built-in aliases do not know.",
    )
    delimiter: str = Field(default=",", description="CSV field separator.")
    decimal: str = Field(default=".", description="Decimal separator: '.' or ','.")
    thousands: str = Field(default="", description="Thousands separator to strip, or empty.")
    date_format: str = Field(
        default="", description="strftime format of dates, e.g. %d.%m.%Y; empty: detect."
    )
    encoding: str = Field(
        default="utf-8",
        description="Text encoding of CSV files, e.g. latin-1 or cp1252 (files with a UTF-16 "
        "or UTF-32 byte order mark are read as such).",
    )
    splits: list[SplitConfig] = Field(
        default_factory=list, description="Splits to adjust: prices before the date / ratio."
    )
    jump_threshold: float = Field(
        default=0.5, description="Flag one-day |log return| above this as a suspected split."
    )
    strict: bool = Field(default=False, description="Fail the run instead of quarantining any row.")

    def resolved_path(self) -> str:
        if not self.path:
            return str(SAMPLE_DATA_DIR)
        if any(ch in self.path for ch in "*?["):
            return str(Path(self.path).expanduser())
        return str(Path(self.path).expanduser().resolve())

    def sessions(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        return trading_sessions(self.calendar, start, end)

    def dialect(self) -> CsvDialect:
        return CsvDialect(
            delimiter=self.delimiter,
            decimal=self.decimal,
            thousands=self.thousands or None,
            date_format=self.date_format or None,
            encoding=self.encoding,
        )

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> PriceIngest:
        return read_prices(
            self.resolved_path(),
            start,
            end,
            trading_days=self.sessions(start, end),
            exchange_tz=exchange_timezone(self.calendar),
            column_map=self.column_map,
            dialect=self.dialect(),
            splits=[Split(s.ticker, s.date, s.ratio) for s in self.splits],
            jump_threshold=self.jump_threshold,
            strict=self.strict,
        )


class StorageResource(dg.ConfigurableResource):
    """The one folder under which every table and checkpoint of the pipeline is written."""

    root: str = Field(
        default="finrnn_data",
        description="Storage root; relative paths are taken from the working directory.",
    )

    def path(self, name: str) -> Path:
        return Path(self.root).expanduser().resolve() / name


#: `ComputeConfig` names that this resource spells differently, for its error messages.
_COMPUTE_FIELD_NAMES = {"gpus_per_replica_group": "gpus_per_step", "strict": "strict_device"}


class ComputeResource(dg.ConfigurableResource):
    """The devices training runs on: a GPU pool leased per step, memory, precision, strategy."""

    device: str = Field(default="cpu", description='"cpu" or "gpu".')
    device_num: int = Field(
        default=0,
        description="GPU index when device is gpu and gpu_pool is empty (every step uses it).",
    )
    strict_device: bool = Field(
        default=False,
        description="Fail instead of falling back to CPU when the requested GPU is absent.",
    )
    gpu_pool: list[int] = Field(
        default_factory=list,
        description="GPU ids (nvidia-smi numbering) that concurrent training steps on this "
        "machine lease from, one step per id; a step waits while all are leased. Empty: "
        "device_num. Set the 'gpu' concurrency pool limit to the same count.",
    )
    gpus_per_step: int = Field(
        default=1,
        description="GPU ids one training step leases; more than one needs strategy 'mirrored'.",
    )
    memory_growth: bool = Field(
        default=True,
        description="Let TensorFlow allocate GPU memory as needed instead of all of it at start.",
    )
    memory_limit_mb: int | None = Field(
        default=None,
        description="Cap on the GPU memory (MiB) one step may use on each of its GPUs; empty: "
        "no cap. Overrides memory_growth.",
    )
    mixed_precision: bool = Field(
        default=False,
        description="Compute recurrent layers in float16 (float32 weights, loss scaling); "
        "faster on GPUs with tensor cores.",
    )
    strategy: str = Field(
        default="none",
        description='"none": one device per step; "mirrored": one model over all the step\'s '
        'GPUs (or cpu_replicas logical CPUs); "multi_worker": one model over several '
        "processes or machines listed in workers.",
    )
    cpu_replicas: int = Field(
        default=1,
        description="With strategy 'mirrored' on the CPU: logical CPU devices to split the host into.",
    )
    workers: list[str] = Field(
        default_factory=list,
        description="host:port of every worker, same order on every worker (strategy "
        "'multi_worker').",
    )
    worker_index: int = Field(
        default=0, description="This worker's position in workers; worker 0 is the chief."
    )
    lease_dir: str = Field(
        default="",
        description="Folder of the GPU lease lock files shared by the steps of one machine; "
        "empty: $FINRNN_LEASE_DIR or <tmp>/finrnn-device-leases.",
    )
    lease_timeout_s: float | None = Field(
        default=None,
        description="Seconds a step waits for a free GPU before failing; empty: wait.",
    )

    def compute_config(self) -> ComputeConfig:
        """The settings as a validated `finrnn_core` `ComputeConfig` (raises `ConfigError`
        naming this resource's fields)."""
        try:
            return self._compute_config()
        except ConfigError as exc:
            message = str(exc)
            for core_name, field in _COMPUTE_FIELD_NAMES.items():
                message = re.sub(rf"\b{core_name}\b(?=`|=)", field, message)
            raise ConfigError(f"compute resource: {message}") from exc

    def _compute_config(self) -> ComputeConfig:
        return ComputeConfig(
            device=self.device,
            device_num=self.device_num,
            gpu_pool=tuple(self.gpu_pool),
            gpus_per_replica_group=self.gpus_per_step,
            memory_growth=self.memory_growth,
            memory_limit_mb=self.memory_limit_mb,
            mixed_precision=self.mixed_precision,
            strategy=self.strategy,
            cpu_replicas=self.cpu_replicas,
            workers=tuple(self.workers),
            worker_index=self.worker_index,
            strict=self.strict_device,
            lease_dir=self.lease_dir or None,
            lease_timeout_s=self.lease_timeout_s,
        )

    @contextmanager
    def lease(
        self, pinned: int | None = None, available: list[int] | None = None
    ) -> Iterator[DevicePlan]:
        """Leases this step's GPU(s), makes only them visible to the process, then releases.

        Args:
            pinned: A model spec's own `device_num`, or `None` to lease from `gpu_pool`.
            available: GPU ids present on the machine; `None`: detected.

        Yields:
            The applied `DevicePlan` (`plan.device`, `plan.device_num` for the model,
            `plan.describe()` for logs and metadata).
        """
        with lease_devices(self.compute_config(), pinned=pinned, available=available) as plan:
            plan.apply()
            yield plan

    @contextmanager
    def training_devices(self, pinned: int | None = None) -> Iterator[tuple[DevicePlan, Any]]:
        """`lease`, then the configured `tf.distribute` strategy (`None` for "none").

        Yields:
            `(plan, strategy)`: pass `plan.device`, `plan.device_num` and the strategy to the
            model; the lease is held until the block ends.
        """
        with self.lease(pinned=pinned) as plan:
            yield plan, make_strategy(plan)
