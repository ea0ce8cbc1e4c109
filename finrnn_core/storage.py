"""Hive-partitioned Parquet tables: ``<table_dir>/date=YYYY-MM-DD/part-0.parquet``.

One file per trading day, written atomically (a temporary dot-file renamed into place), so readers
never see half a file. The ``date`` column lives in the folder name only; every reader that knows
hive partitioning (``pyarrow.dataset``, DuckDB, Polars, pandas) gets it back as a column::

    import pyarrow.dataset as ds
    ds.dataset("finrnn_data/predictions", partitioning="hive").to_table().to_pandas()

Each table has a fixed Arrow schema (:data:`TABLE_SCHEMAS`), so an empty day (a holiday) is a
zero-row file with the same columns, not a missing folder.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from finrnn_core.errors import ConfigError, DataError

PART_FILE = "part-0.parquet"
DATE_PARTITIONING = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "raw_prices": pa.schema(
        [
            ("ticker", pa.string()),
            ("open", pa.float64()),
            ("high", pa.float64()),
            ("low", pa.float64()),
            ("close", pa.float64()),
            ("adj_close", pa.float64()),
            ("volume", pa.float64()),
            ("source_file", pa.string()),
        ]
    ),
    "price_quarantine": pa.schema(
        [
            ("ticker", pa.string()),
            ("source_file", pa.string()),
            ("row_number", pa.int64()),
            ("column", pa.string()),
            ("raw_date", pa.string()),
            ("raw_value", pa.string()),
            ("reason", pa.string()),
        ]
    ),
    "price_features": pa.schema(
        [
            ("ticker", pa.string()),
            ("adj_close", pa.float64()),
            ("ret_1d", pa.float64()),
            ("ret_5d", pa.float64()),
            ("ret_20d", pa.float64()),
            ("vol_20d", pa.float64()),
            ("ma_gap_20d", pa.float64()),
        ]
    ),
    "predictions": pa.schema(
        [
            ("ticker", pa.string()),
            ("model", pa.string()),
            ("predicted", pa.float64()),
            ("realized", pa.float64()),
            ("forward_step", pa.int32()),
            ("model_version", pa.string()),
            ("cutoff", pa.date32()),
        ]
    ),
    "prediction_scores": pa.schema(
        [
            ("model", pa.string()),
            ("forward_step", pa.int32()),
            ("n_tickers", pa.int64()),
            ("ic", pa.float64()),
            ("rank_ic", pa.float64()),
            ("hit_rate", pa.float64()),
            ("mae", pa.float64()),
            ("rmse", pa.float64()),
            ("mae_zero", pa.float64()),
            ("rmse_zero", pa.float64()),
            ("mae_persistence", pa.float64()),
            ("rmse_persistence", pa.float64()),
        ]
    ),
}


def partition_dir(table_dir: str | Path, date: str) -> Path:
    """Return the folder of one date partition, ``<table_dir>/date=YYYY-MM-DD``.

    Raises:
        DataError: ``date`` is not an ISO date (the folder name never comes from free text).
    """
    try:
        iso = pd.Timestamp(date).strftime("%Y-%m-%d")
    except (ValueError, TypeError) as exc:
        raise DataError(f"Partition date must be YYYY-MM-DD. Received: date={date!r}") from exc
    if iso != str(date)[:10]:
        raise DataError(f"Partition date must be YYYY-MM-DD. Received: date={date!r}")
    return Path(table_dir) / f"date={iso}"


def write_partition(
    table_dir: str | Path, date: str, frame: pd.DataFrame, schema: pa.Schema
) -> Path:
    """Write one day's rows atomically, replacing what the partition held before.

    Args:
        table_dir: the table's folder.
        date: the partition date, ``YYYY-MM-DD``.
        frame: the rows; a ``date`` column, if present, must equal ``date`` and is not stored.
        schema: the table's Arrow schema (without ``date``).

    Returns:
        The path of the written file.

    Raises:
        DataError: rows belong to another date or a column is missing from ``frame``.
    """
    target_dir = partition_dir(table_dir, date)
    if "date" in frame.columns:
        other = frame["date"].dropna().dt.strftime("%Y-%m-%d").unique()
        stray = [d for d in other if d != target_dir.name[5:]]
        if stray:
            raise DataError(
                f"Rows dated {stray[:3]} cannot be written to partition {target_dir.name} "
                f"of {str(table_dir)!r}."
            )
        frame = frame.drop(columns="date")
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"Columns {missing} missing from rows written to {str(table_dir)!r}.")
    return _write_file(target_dir, _to_arrow(frame, schema))


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    if len(frame) == 0:
        return schema.empty_table()  # column dtypes of an empty frame are often just 'object'
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


# A day's file holds a few hundred rows whose strings (ticker, source file) are mostly all
# different: building dictionaries for them took ~40% of the encoding time and made the files
# larger, and zstd still shrinks a repeated string. Readers get the same plain strings back.
_PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": False}


def _write_file(target_dir: Path, table: pa.Table | bytes) -> Path:
    """Write `table` (or its encoded Parquet bytes) as the partition's file: a temporary
    dot-file renamed into place."""
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / PART_FILE
    tmp = target_dir / f".{PART_FILE}.{uuid.uuid4().hex}.tmp"
    try:
        if isinstance(table, bytes):
            tmp.write_bytes(table)
        else:
            pq.write_table(table, tmp, **_PARQUET_OPTIONS)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)  # after a rename there is nothing left to remove
        raise
    return final


def _encoded_empty(schema: pa.Schema) -> bytes:
    """The Parquet bytes of a zero-row table of ``schema`` (the same for every empty day)."""
    sink = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), sink, **_PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def write_partitions(
    table_dir: str | Path,
    frame: pd.DataFrame,
    dates: Iterable[str],
    schema: pa.Schema,
    threads: int = 2,
) -> list[Path]:
    """Write one partition per date in ``dates`` (an empty file where ``frame`` has no rows).

    Args:
        table_dir: the table's folder.
        frame: rows with a ``date`` column; every date must be among ``dates``.
        dates: the partition dates (``YYYY-MM-DD``) to write.
        schema: the table's Arrow schema (without ``date``).
        threads: files written in parallel (Parquet encoding releases the GIL); each thread
            writes one run of consecutive days, since handing files to a pool one at a time
            cost more than writing an empty day.

    Returns:
        The written paths, in ``dates`` order.

    Raises:
        DataError: ``frame`` has rows dated outside ``dates``.
    """
    keys = list(dates)
    # Days as integers (datetime64[D]): grouping 2.5M rows by day strings cost seconds.
    wanted = np.array([partition_dir(table_dir, k).name[5:] for k in keys], dtype="datetime64[D]")
    day = frame["date"].to_numpy(dtype="datetime64[D]") if len(frame) else np.array([], "M8[D]")
    days, starts, counts = np.unique(np.sort(day, kind="stable"), True, False, True)
    stray = np.setdiff1d(days, wanted)
    if len(stray):
        being_written = f"{keys[0]}..{keys[-1]}" if keys else "none"
        raise DataError(
            f"Rows dated {[str(d) for d in stray[:3]]} are outside the partitions being written "
            f"to {str(table_dir)!r} ({being_written})."
        )
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise DataError(f"Columns {missing} missing from rows written to {str(table_dir)!r}.")
    # One conversion to Arrow for the whole frame, rows grouped by day (stable: a day keeps its
    # row order); each partition is then a zero-copy slice. Converting per day cost ~10x more.
    order = np.argsort(day, kind="stable")
    table = _to_arrow(frame.iloc[order], schema)
    spans = {str(d): (int(a), int(n)) for d, a, n in zip(days, starts, counts, strict=True)}

    empty = _encoded_empty(schema)  # holidays, and most days of the quarantine table
    isos = wanted.astype(str)  # a key's day as written in `spans`, whatever the key's spelling

    def write(run: range) -> list[Path]:
        written = []
        for i in run:
            start, count = spans.get(isos[i], (0, 0))
            part = table.slice(start, count) if count else empty
            written.append(_write_file(Path(table_dir) / f"date={isos[i]}", part))
        return written

    workers = max(1, min(int(threads), len(keys)))
    bounds = [len(keys) * w // workers for w in range(workers + 1)]
    runs = [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [path for written in pool.map(write, runs) for path in written]


def partition_dates(table_dir: str | Path) -> list[str]:
    """Return the dates (``YYYY-MM-DD``, sorted) that have a written partition file."""
    root = Path(table_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name[5:] for p in root.glob("date=*") if p.is_dir() and (p / PART_FILE).is_file()
    )


def missing_partitions(table_dir: str | Path, dates: Iterable[str]) -> list[str]:
    """Return the dates among ``dates`` that have no written partition file."""
    present = set(partition_dates(table_dir))
    return [d for d in dates if d not in present]


def _as_date(name: str, value: str | pd.Timestamp) -> datetime.date:
    """``value`` as a date, or a ConfigError naming the argument."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ConfigError(f"`{name}` must be a date such as 2018-06-01. Received: {name}={value!r}")
    return stamp.date()


def read_table(
    table_dir: str | Path,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    columns: list[str] | None = None,
    tickers: Iterable[str] | None = None,
    schema: pa.Schema | None = None,
) -> pd.DataFrame:
    """Read a table (optionally only dates in ``[start, end]``) into pandas, ``date`` first.

    Args:
        table_dir: the table's folder.
        start: first date to read (inclusive), or ``None``.
        end: last date to read (inclusive), or ``None``.
        columns: columns to read besides ``date``; all when ``None``.
        tickers: only rows of these tickers (the table needs a ``ticker`` column; one string is
            one ticker); all when ``None``.
        schema: the table's Arrow schema (without ``date``, e.g. ``TABLE_SCHEMAS["predictions"]``);
            with it a folder that holds no partition yet reads as zero rows with the table's
            columns (without it, such a folder has only a ``date`` column).

    Returns:
        A DataFrame with ``date`` followed by the table's columns; ``date`` and every other
        date column (such as ``cutoff``) are ``datetime64[ns]``.

    Raises:
        DataError: the table folder does not exist.
        ConfigError: ``start`` or ``end`` is not a date.
    """
    root = Path(table_dir)
    if not root.is_dir():
        raise DataError(f"Table {str(root)!r} does not exist; materialize it first.")
    if schema is not None:
        schema = pa.schema([pa.field("date", pa.date32()), *schema])
    dataset = ds.dataset(root, schema=schema, format="parquet", partitioning=DATE_PARTITIONING)
    expr = None
    if start is not None:
        expr = ds.field("date") >= pa.scalar(_as_date("start", start), pa.date32())
    if end is not None:
        upper = ds.field("date") <= pa.scalar(_as_date("end", end), pa.date32())
        expr = upper if expr is None else expr & upper
    if isinstance(tickers, str):
        tickers = [tickers]  # one ticker, not its letters
    if tickers is not None:
        wanted = ds.field("ticker").isin(pa.array(list(tickers), pa.string()))
        expr = wanted if expr is None else expr & wanted
    names = None if columns is None else ["date", *[c for c in columns if c != "date"]]
    table = dataset.to_table(columns=names, filter=expr)
    frame = table.to_pandas()
    # Arrow dates arrive as Python date objects in an object column, which pandas will stop
    # comparing with datetime64: every date column comes back as datetime64[ns], like `date`.
    for field in table.schema:
        if pa.types.is_date(field.type):
            frame[field.name] = pd.to_datetime(frame[field.name]).astype("datetime64[ns]")
    ordered = ["date", *[c for c in frame.columns if c != "date"]]
    return frame[ordered].sort_values(["date"], kind="stable").reset_index(drop=True)
