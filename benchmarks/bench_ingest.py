"""Ingest throughput: finrnn's price ingest into the partitioned Parquet store vs pandas.read_csv.

Generates (once, cached) a folder of synthetic Yahoo-style per-ticker CSV files, then in one
process, side by side:

* baseline: ``pandas.read_csv`` of every file (nothing else: no validation, no writing);
* finrnn: ``read_prices`` (layout detection, parsing, calendar, quarantine, accounting) plus
  writing every trading day's partition of ``raw_prices`` and ``price_quarantine``, as the
  ingest asset does.

Prints rows/second, peak memory (Python allocations via tracemalloc plus Arrow's memory pool)
and the ratio. Usage: ``python benchmarks/bench_ingest.py [--tickers 500] [--years 20]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from finrnn_core.calendar import trading_sessions
from finrnn_core.prices import read_prices
from finrnn_core.storage import TABLE_SCHEMAS, write_partitions


def make_files(folder: Path, tickers: int, years: int, seed: int = 0) -> int:
    """Write synthetic Yahoo-style files (a random walk per ticker); return the row count."""
    stamp = folder / f".complete-{tickers}-{years}"
    days = trading_sessions("XNYS", f"{2024 - years}-01-01", "2023-12-31")
    if stamp.exists():
        return tickers * len(days)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    dates = days.strftime("%Y-%m-%d")
    for i in range(tickers):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
        frame = pd.DataFrame(
            {
                "Date": dates,
                "Open": close * (1 + rng.normal(0, 0.005, len(days))),
                "High": close * 1.01,
                "Low": close * 0.99,
                "Close": close,
                "Adj Close": close,
                "Volume": rng.integers(1_000, 10_000_000, len(days)),
            }
        )
        frame.to_csv(folder / f"T{i:04d}.csv", index=False, float_format="%.4f")
    stamp.touch()
    return tickers * len(days)


def measure(fn):
    """Run ``fn`` once; return (result, seconds, peak bytes)."""
    pool = pa.default_memory_pool()
    tracemalloc.start()
    base_arrow = pool.bytes_allocated()
    began = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - began
    _, peak_python = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak_python + max(0, pool.max_memory() - base_arrow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "finrnn_bench")
    args = parser.parse_args()

    folder = args.data / "prices"
    rows = make_files(folder, args.tickers, args.years)
    files = sorted(folder.glob("*.csv"))
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"{len(files)} files, {rows:,} rows, {size_mb:.0f} MB of CSV")

    def pandas_baseline():
        return sum(len(pd.read_csv(f)) for f in files)

    store = args.data / "store"

    def finrnn_ingest():
        shutil.rmtree(store, ignore_errors=True)
        first, last = pd.Timestamp(f"{2024 - args.years}-01-01"), pd.Timestamp("2023-12-31")
        sessions = trading_sessions("XNYS", first, last)
        result = read_prices(folder, first, last, trading_days=sessions)
        keys = pd.bdate_range(first, last).strftime("%Y-%m-%d")
        write_partitions(store / "raw_prices", result.prices, keys, TABLE_SCHEMAS["raw_prices"])
        quarantine = result.quarantine
        write_partitions(
            store / "price_quarantine", quarantine, keys, TABLE_SCHEMAS["price_quarantine"]
        )
        assert result.rows_read == result.rows_accepted + result.rows_quarantined == rows
        return result.rows_read

    pandas_rows, pandas_s, pandas_mem = measure(pandas_baseline)
    finrnn_rows, finrnn_s, finrnn_mem = measure(finrnn_ingest)
    assert pandas_rows == finrnn_rows == rows

    print(f"{'':32}{'rows/s':>12}{'seconds':>10}{'peak MB':>10}")
    print(f"{'pandas.read_csv (read only)':32}{rows / pandas_s:>12,.0f}{pandas_s:>10.1f}{pandas_mem / 1e6:>10.0f}")
    print(f"{'finrnn ingest (read+check+write)':32}{rows / finrnn_s:>12,.0f}{finrnn_s:>10.1f}{finrnn_mem / 1e6:>10.0f}")
    print(f"ratio finrnn / pandas rows/s: {pandas_s / finrnn_s:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
