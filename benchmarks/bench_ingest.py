"""Ingest throughput: finrnn's price ingest into the partitioned Parquet store vs pandas.read_csv.

Generates (once, cached) a folder of synthetic Yahoo-style per-ticker CSV files, then in one
process, side by side:

* baseline: ``pandas.read_csv`` of every file (nothing else: no validation, no writing);
* floor: pyarrow's multi-threaded CSV reader on every file and one Parquet file of all rows
  (no checks, no partitions): what reading and writing alone cost with the fastest reader
  finrnn's stack has, so the target can be judged against what is reachable on this machine;
* layout floor: the files of the store alone. Every day's partition of ``raw_prices`` and
  ``price_quarantine`` written with no rows, by the store's own atomic writer (folder, temporary
  file, rename): what the ``date=YYYY-MM-DD/`` layout costs on this file system before any
  byte is parsed, checked or encoded;
* finrnn: ``read_prices`` (layout detection, parsing, calendar, quarantine, accounting) plus
  writing every trading day's partition of ``raw_prices`` and ``price_quarantine``, as the
  ingest asset does.

Prints rows/second (all timed in this process, one after the other), peak memory (each run
once more alone in a fresh child process, the child's own ``VmHWM``) and the ratios.
Usage: ``python benchmarks/bench_ingest.py [--tickers 500] [--years 20] [--store DIR]``
(``--store /dev/shm/finrnn_store`` puts the store in memory, to tell the disk from the CPU).
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
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finrnn_core.calendar import trading_sessions
from finrnn_core.prices import read_prices
from finrnn_core.storage import TABLE_SCHEMAS, write_partitions

MARKER = ".finrnn-bench-ingest"  # marks a --data or --store folder as this script's own


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


def vm_hwm_mb() -> float:
    """This process's peak resident memory since its exec (``VmHWM``), in MB.

    Not the child's ``ru_maxrss`` as its parent sees it: at exec Linux folds the forking
    parent's peak into it.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_rss_mb(args: argparse.Namespace, variant: str) -> float:
    """Peak resident memory of one variant, run alone in a child process."""
    cmd = [sys.executable, __file__, "--tickers", str(args.tickers), "--years", str(args.years)]
    done = subprocess.run(
        [*cmd, "--data", str(args.data), "--store", str(args.store), "--only", variant],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} run failed with status {done.returncode}:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


VARIANTS = ("pandas", "floor", "layout", "finrnn")


TABLES = ("raw_prices", "price_quarantine")  # the store's tables, deleted before every run


def check_folder(parser: argparse.ArgumentParser, flag: str, folder: Path) -> None:
    """Refuse a ``folder`` that is a file, lies under one, or holds files this script did not
    make (it deletes and rewrites what is in its folders)."""
    for place in (folder, *folder.parents):
        if place.exists() and not place.is_dir():
            parser.error(f"{flag} {folder}: {place} is a file; give a new or empty folder.")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).exists():
        parser.error(
            f"{flag} {folder} holds files this benchmark did not make; it deletes and "
            f"rewrites what is in its {flag} folder, so give it a new or empty folder."
        )


def check_apart(parser: argparse.ArgumentParser, data: Path, store: Path) -> None:
    """Refuse a store inside the generated prices (regenerated, and read as price files) and
    a --data folder inside a store table (deleted every run)."""
    data, store = data.resolve(), store.resolve()
    prices = data / "prices"
    if store == prices or prices in store.parents:
        parser.error(
            f"--store {store} is inside the generated price files {prices}; "
            "give a folder outside it."
        )
    for table in TABLES:
        if data == store / table or (store / table) in data.parents:
            parser.error(
                f"--data {data} is inside the store's {table} table, which every run "
                "deletes; give a folder outside it."
            )


def claim_folder(folder: Path) -> None:
    """Make ``folder`` (already checked) this script's own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()


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
    parser.add_argument(
        "--store",
        type=Path,
        help="folder for the partitioned store the runs write (default <data>/store), e.g. on "
        "another disk or in memory (/dev/shm/...); rewritten every run, so it must be new, "
        "empty or made by this script",
    )
    parser.add_argument("--only", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("tickers", "years"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1 (got {getattr(args, name)})")
    check_folder(parser, "--data", args.data)
    if args.store is None:
        args.store = args.data / "store"  # inside --data, so this script's own already
    else:
        check_folder(parser, "--store", args.store)
        check_apart(parser, args.data, args.store)
    claim_folder(args.data)
    claim_folder(args.store)

    folder = args.data / "prices"
    rows = make_files(folder, args.tickers, args.years)
    files = sorted(folder.glob("*.csv"))
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    if args.only is None:
        print(f"{len(files)} files, {rows:,} rows, {size_mb:.0f} MB of CSV")

    def pandas_baseline():
        return sum(len(pd.read_csv(f)) for f in files)

    store = args.store
    tables = TABLES
    first, last = pd.Timestamp(f"{2024 - args.years}-01-01"), pd.Timestamp("2023-12-31")
    keys = pd.bdate_range(first, last).strftime("%Y-%m-%d")  # the asset's daily partitions

    def clear_store():
        for name in tables:
            shutil.rmtree(store / name, ignore_errors=True)

    def floor():
        table = pa.concat_tables([pacsv.read_csv(f) for f in files])
        pq.write_table(table, store / "floor.parquet")
        return table.num_rows

    def layout_floor():
        for name in tables:
            schema = TABLE_SCHEMAS[name]
            empty = pd.DataFrame({c: [] for c in ["date", *schema.names]})
            write_partitions(store / name, empty, keys, schema)
        return rows  # no row is read: the same count, for a rows/s beside the others

    parts: dict[str, float] = {}  # finrnn's time, part by part

    def finrnn_ingest():
        began = time.perf_counter()
        sessions = trading_sessions("XNYS", first, last)
        result = read_prices(folder, first, last, trading_days=sessions)
        parts["read_prices"] = time.perf_counter() - began
        for name, frame in (("raw_prices", result.prices), ("price_quarantine", result.quarantine)):
            began = time.perf_counter()
            write_partitions(store / name, frame, keys, TABLE_SCHEMAS[name])
            parts[f"{name} files"] = time.perf_counter() - began
        assert result.rows_read == result.rows_accepted + result.rows_quarantined == rows
        return result.rows_read

    variants = {
        "pandas": pandas_baseline,
        "floor": floor,
        "layout": layout_floor,
        "finrnn": finrnn_ingest,
    }
    if args.only:
        clear_store()
        variants[args.only]()
        print(f"{vm_hwm_mb():.1f}")
        return
    memory = {name: peak_rss_mb(args, name) for name in variants}
    seconds = {}
    for name, fn in variants.items():
        clear_store()  # untimed: every variant writes into an empty store
        counted, seconds[name] = timed(fn)
        assert counted == rows, (name, counted, rows)

    print(f"{os.cpu_count()} CPU cores; store in {store}")
    print(f"{'':46}{'rows/s':>12}{'seconds':>10}{'peak RSS MB':>13}{'vs pandas':>11}")
    labels = {
        "pandas": "pandas.read_csv (read only)",
        "floor": "floor: pyarrow read + 1 Parquet file",
        "layout": f"layout floor: {len(tables)} x {len(keys):,} day files, no rows",
        "finrnn": "finrnn ingest (read+check+write)",
    }
    for name, label in labels.items():
        ratio = seconds["pandas"] / seconds[name]
        print(
            f"{label:46}{rows / seconds[name]:>12,.0f}{seconds[name]:>10.2f}"
            f"{memory[name]:>13,.0f}{ratio:>10.2f}x"
        )
    print(
        f"ratio finrnn / pandas rows/s: {seconds['pandas'] / seconds['finrnn']:.2f}x (target >= 3x)"
    )
    print("finrnn part by part: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    print(
        "the most any ingest into this layout can reach here (its files alone): "
        f"{seconds['pandas'] / seconds['layout']:.2f}x"
    )


if __name__ == "__main__":
    main()
