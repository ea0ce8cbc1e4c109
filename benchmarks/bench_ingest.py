"""Ingest throughput: finrnn's price ingest into the partitioned Parquet store vs pandas.read_csv.

Generates (once, cached) a folder of synthetic Yahoo-style per-ticker CSV files, then in one
process, side by side:

* baseline: ``pandas.read_csv`` of every file (nothing else: no validation, no writing);
* finrnn: ``read_prices`` (layout detection, parsing, calendar, quarantine, accounting) plus
  writing every trading day's partition of ``raw_prices`` and ``price_quarantine``, as the
  ingest asset does.

Prints rows/second (both timed in this process, one after the other), peak memory (each run
once more in a fresh child process, its peak RSS) and the ratio.
Usage: ``python benchmarks/bench_ingest.py [--tickers 500] [--years 20]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from finrnn_core.calendar import trading_sessions
from finrnn_core.prices import read_prices
from finrnn_core.storage import TABLE_SCHEMAS, write_partitions

MARKER = ".finrnn-bench-ingest"  # marks a --data folder as this script's own


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


def timed(fn):
    """Run ``fn`` once; return (result, seconds)."""
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def peak_rss_mb(args: argparse.Namespace, variant: str) -> float:
    """Peak resident memory of one variant, run alone in a child process."""
    cmd = [sys.executable, __file__, "--tickers", str(args.tickers), "--years", str(args.years)]
    child = subprocess.Popen([*cmd, "--data", str(args.data), "--only", variant])
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise RuntimeError(f"{variant} run failed with status {status}")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500, help="synthetic files (default 500)")
    parser.add_argument("--years", type=int, default=20, help="years per file (default 20)")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(tempfile.gettempdir()) / "finrnn_bench",
        help="scratch folder the benchmark owns: the generated files (kept for the next run) "
        "and the store (rewritten every run); must be new, empty or made by this script",
    )
    parser.add_argument("--only", choices=["pandas", "finrnn"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("tickers", "years"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1 (got {getattr(args, name)})")
    marker = args.data / MARKER
    if args.data.exists() and not args.data.is_dir():
        parser.error(f"--data {args.data} is a file; give it a new or empty folder.")
    if args.data.exists() and any(args.data.iterdir()) and not marker.exists():
        parser.error(
            f"--data {args.data} holds files this benchmark did not make; it deletes and "
            "rewrites what is in its --data folder, so give it a new or empty folder."
        )
    args.data.mkdir(parents=True, exist_ok=True)
    marker.touch()

    folder = args.data / "prices"
    rows = make_files(folder, args.tickers, args.years)
    files = sorted(folder.glob("*.csv"))
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    if args.only is None:
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

    if args.only:
        (pandas_baseline if args.only == "pandas" else finrnn_ingest)()
        return
    # Memory first, while this process is still small: a forked child's peak RSS counts the
    # parent's pages it started with.
    pandas_mem, finrnn_mem = peak_rss_mb(args, "pandas"), peak_rss_mb(args, "finrnn")
    pandas_rows, pandas_s = timed(pandas_baseline)
    finrnn_rows, finrnn_s = timed(finrnn_ingest)
    assert pandas_rows == finrnn_rows == rows

    print(f"{'':34}{'rows/s':>12}{'seconds':>10}{'peak RSS MB':>13}")
    for name, seconds, mem in [
        ("pandas.read_csv (read only)", pandas_s, pandas_mem),
        ("finrnn ingest (read+check+write)", finrnn_s, finrnn_mem),
    ]:
        print(f"{name:34}{rows / seconds:>12,.0f}{seconds:>10.1f}{mem:>13,.0f}")
    print(f"ratio finrnn / pandas rows/s: {pandas_s / finrnn_s:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
