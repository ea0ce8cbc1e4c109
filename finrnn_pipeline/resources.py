"""Resources: where prices come from, where tables and checkpoints go, which device trains."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from finrnn_core.calendar import exchange_timezone, trading_sessions
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

    def read(self, start: pd.Timestamp, end: pd.Timestamp) -> PriceIngest:
        return read_prices(
            self.resolved_path(),
            start,
            end,
            trading_days=self.sessions(start, end),
            exchange_tz=exchange_timezone(self.calendar),
            column_map=self.column_map,
            dialect=CsvDialect(
                delimiter=self.delimiter,
                decimal=self.decimal,
                thousands=self.thousands or None,
                date_format=self.date_format or None,
            ),
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


class ComputeResource(dg.ConfigurableResource):
    """The device training runs on, passed through to finrnn_core models."""

    device: str = Field(default="cpu", description='"cpu" or "gpu".')
    device_num: int = Field(default=0, description="GPU index when device is gpu.")
    strict_device: bool = Field(
        default=False,
        description="Fail instead of falling back to CPU when the requested GPU is absent.",
    )
