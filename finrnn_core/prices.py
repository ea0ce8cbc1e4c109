"""Read daily price files into one long table, quarantining every row that cannot be used.

Two layouts are recognised (more come with the full ingest):

* **OHLCV per ticker** (Yahoo Finance export): ``Date, Open, High, Low, Close, Adj Close, Volume``;
  the ticker is the file name without its extensions (``SP500.csv.gz`` -> ``SP500``).
* **Wide close table**: a ``Date`` column plus one column of (adjusted) closes per ticker.

Files may be CSV, gzip-compressed CSV or Parquet. Every row read in the requested date range ends
up either in :attr:`PriceIngest.prices` or in :attr:`PriceIngest.quarantine` with a reason, so
``rows_read == rows_accepted + rows_quarantined`` always holds.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from finrnn_core.errors import DataError

PRICE_COLUMNS = ("ticker", "open", "high", "low", "close", "adj_close", "volume", "source_file")
QUARANTINE_COLUMNS = ("ticker", "source_file", "row_number", "column", "raw_value", "reason")
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".parquet")

# Header aliases, matched after lower-casing and removing spaces, underscores and dashes.
_OHLCV_ALIASES = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
    "vol": "volume",
}
_DATE_ALIASES = {"date", "datetime", "timestamp", "time"}


@dataclass
class PriceIngest:
    """The outcome of reading price files.

    Attributes:
        prices: accepted rows, one per (date, ticker): ``date`` (datetime64, midnight) plus
            :data:`PRICE_COLUMNS`. ``adj_close`` is the price features are computed from.
        quarantine: rejected rows: ``date`` plus :data:`QUARANTINE_COLUMNS`.
        rows_read: rows (one per date and ticker) read inside the requested date range.
        repairs: counts of safe repairs made (e.g. ``sorted``).
        files: the files read.
    """

    prices: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    repairs: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def rows_accepted(self) -> int:
        return len(self.prices)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def quarantined_by_reason(self) -> dict[str, int]:
        return dict(Counter(self.quarantine["reason"]))


def list_price_files(source: str | Path) -> list[Path]:
    """Return the price files a source path names: the file itself, or the files in a folder.

    Raises:
        DataError: the path does not exist, or a folder holds no supported file.
    """
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _is_supported(p))
        if not files:
            raise DataError(
                f"No price files ({', '.join(SUPPORTED_SUFFIXES)}) in folder {str(path)!r}."
            )
        return files
    raise DataError(f"Price source {str(path)!r} does not exist.")


def read_prices(
    source: str | Path,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    trading_days: pd.DatetimeIndex | None = None,
) -> PriceIngest:
    """Read every price file of a source and keep the rows dated in ``[start, end]``.

    Args:
        source: a price file or a folder of price files.
        start: first date to keep (inclusive); ``None`` keeps everything before ``end``.
        end: last date to keep (inclusive); ``None`` keeps everything after ``start``.
        trading_days: if given, rows dated on any other day are quarantined as
            ``non_trading_day``.

    Returns:
        A :class:`PriceIngest` with accepted and quarantined rows.

    Raises:
        DataError: a file is unreadable, has an unknown layout, an unparseable date, or two files
            hold the same ticker.
    """
    start_ts = pd.Timestamp(start) if start is not None else None
    end_ts = pd.Timestamp(end) if end is not None else None
    files = list_price_files(source)
    long_frames = [_read_one(path) for path in files]
    long = pd.concat(long_frames, ignore_index=True)

    seen: dict[str, str] = {}
    for frame in long_frames:
        for ticker in frame["ticker"].unique():
            owner = frame["source_file"].iloc[0]
            if ticker in seen and seen[ticker] != owner:
                raise DataError(
                    f"Ticker {ticker!r} appears in two price files: {seen[ticker]!r} and "
                    f"{owner!r}. Keep each ticker in one file."
                )
            seen[ticker] = owner

    if start_ts is not None:
        long = long[long["date"] >= start_ts]
    if end_ts is not None:
        long = long[long["date"] <= end_ts]
    rows_read = len(long)

    repairs: dict[str, int] = {}
    unsorted = [
        t for t, d in long.groupby("ticker", sort=False)["date"] if not d.is_monotonic_increasing
    ]
    if unsorted:
        repairs["tickers_sorted_by_date"] = len(unsorted)
    long = long.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)

    reason = pd.Series(pd.NA, index=long.index, dtype="string")
    if trading_days is not None:
        reason[~long["date"].isin(trading_days)] = "non_trading_day"
    reason[reason.isna() & long["price"].isna()] = "missing_price"
    reason[reason.isna() & (long["price"] <= 0)] = "non_positive_price"
    # Among the usable rows only: a bad row followed by a good one for the same day keeps the good one.
    usable = reason.isna()
    duplicated = long[usable].duplicated(["ticker", "date"], keep="first")
    reason[duplicated[duplicated].index] = "duplicate_date"

    bad = reason.notna()
    quarantine = long.loc[bad].assign(reason=reason[bad].astype(str))
    quarantine = quarantine[["date", *QUARANTINE_COLUMNS]].reset_index(drop=True)
    prices = long.loc[~bad, ["date", *PRICE_COLUMNS]].reset_index(drop=True)
    return PriceIngest(
        prices=prices,
        quarantine=quarantine,
        rows_read=rows_read,
        repairs=repairs,
        files=[str(p) for p in files],
    )


def _is_supported(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith((".", "_")) and name.endswith(SUPPORTED_SUFFIXES)


def _ticker_from_name(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _normalise_header(name: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(name).strip().lstrip("\ufeff").lower())


def _read_raw(path: Path) -> pd.DataFrame:
    """Read a file with every cell as a string, so quarantined rows keep their raw values."""
    if not _is_supported(path):
        raise DataError(
            f"Unsupported price file {str(path)!r}: expected one of {', '.join(SUPPORTED_SUFFIXES)}."
        )
    try:
        if path.name.lower().endswith(".parquet"):
            frame = pd.read_parquet(path)
            return frame.astype(object).where(frame.notna(), "").astype(str)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read price file {str(path)!r}: {exc}") from exc


def _read_one(path: Path) -> pd.DataFrame:
    raw = _read_raw(path)
    headers = {_normalise_header(c): c for c in raw.columns}
    date_keys = [k for k in headers if k in _DATE_ALIASES]
    if not date_keys:
        raise DataError(
            f"Unknown price file layout in {str(path)!r}: no date column. "
            f"Found columns: {list(map(str, raw.columns))}."
        )
    date_col = headers[date_keys[0]]
    dates = _parse_dates(raw[date_col], path, date_col)
    row_numbers = np.arange(len(raw)) + 2  # 1-based file line, after the header line

    if "close" in headers:
        return _long_from_ohlcv(raw, headers, dates, row_numbers, path)
    value_cols = [c for c in raw.columns if c != date_col]
    if not value_cols:
        raise DataError(
            f"Unknown price file layout in {str(path)!r}: a date column but no price columns. "
            f"Found columns: {list(map(str, raw.columns))}."
        )
    return _long_from_wide(raw, value_cols, dates, row_numbers, path)


def _parse_dates(column: pd.Series, path: Path, name: str) -> pd.Series:
    parsed = pd.to_datetime(column.str.strip(), errors="coerce", format="mixed")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    bad = parsed.isna()
    if bad.any():
        where = np.flatnonzero(bad.to_numpy())[:5]
        examples = ", ".join(f"line {i + 2}: {column.iloc[i]!r}" for i in where)
        raise DataError(
            f"Unparseable dates in column {name!r} of {str(path)!r} "
            f"({int(bad.sum())} rows; {examples})."
        )
    return parsed.dt.normalize().astype("datetime64[ns]")


def _to_number(column: pd.Series) -> pd.Series:
    return pd.to_numeric(
        column.str.strip().replace({"-": "", "null": "", "NaN": ""}), errors="coerce"
    )


def _long_from_ohlcv(
    raw: pd.DataFrame,
    headers: dict[str, str],
    dates: pd.Series,
    row_numbers: np.ndarray,
    path: Path,
) -> pd.DataFrame:
    ticker = _ticker_from_name(path)
    out = pd.DataFrame({"date": dates.to_numpy(), "ticker": ticker, "source_file": str(path)})
    for key, name in _OHLCV_ALIASES.items():
        if name != "date" and key in headers and name not in out:
            out[name] = _to_number(raw[headers[key]]).to_numpy()
    for name in ("open", "high", "low", "adj_close", "volume"):
        if name not in out:
            out[name] = np.nan
    price_col = "adj_close" if out["adj_close"].notna().any() else "close"
    raw_col = (
        headers.get("adjclose", headers.get("adjustedclose"))
        if price_col == "adj_close"
        else headers["close"]
    )
    out["adj_close"] = out[price_col]
    out["price"] = out["adj_close"]
    out["row_number"] = row_numbers
    out["column"] = raw_col
    out["raw_value"] = raw[raw_col].to_numpy()
    return out


def _long_from_wide(
    raw: pd.DataFrame,
    value_cols: list[str],
    dates: pd.Series,
    row_numbers: np.ndarray,
    path: Path,
) -> pd.DataFrame:
    frames = []
    for col in value_cols:
        values = _to_number(raw[col]).to_numpy()
        frames.append(
            pd.DataFrame(
                {
                    "date": dates.to_numpy(),
                    "ticker": str(col).strip(),
                    "source_file": str(path),
                    "open": np.nan,
                    "high": np.nan,
                    "low": np.nan,
                    "close": values,
                    "adj_close": values,
                    "volume": np.nan,
                    "price": values,
                    "row_number": row_numbers,
                    "column": str(col),
                    "raw_value": raw[col].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
