"""Build the bundled price sample in finrnn_pipeline/sample_data/ from the shared real price files.

Both source layouts are kept as they are (a wide close-price table and a Yahoo-style OHLCV file),
only cut to a short date range and stored as Parquet, so the demo exercises both readers.

Usage: python scripts/build_sample.py [--data-dir ../shared/data] [--start 2016-01-01] [--end 2018-12-31]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="folder of the real price files the sample is cut from",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=ROOT / "finrnn_pipeline" / "sample_data",
        help="where the sample's Parquet files are written (the package's bundled sample)",
    )
    parser.add_argument("--start", default="2016-01-01", help="first date kept")
    parser.add_argument("--end", default="2018-12-31", help="last date kept")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    for name, out_name in [
        ("us_large_caps_close_1990_2022.csv.gz", "us_large_caps_close.parquet"),
        ("sp500_index_ohlcv_1999_2018.csv", "SP500.parquet"),
    ]:
        frame = pd.read_csv(args.data_dir / name)
        dates = pd.to_datetime(frame["Date"], format="%Y-%m-%d")
        keep = (dates >= args.start) & (dates <= args.end)
        frame = frame.loc[keep].copy()
        frame["Date"] = dates[keep].dt.date
        frame.to_parquet(args.out_dir / out_name, index=False, compression="zstd")
        print(f"{out_name}: {len(frame)} rows, {frame['Date'].min()} .. {frame['Date'].max()}")


if __name__ == "__main__":
    main()
