"""Run the whole pipeline over a range of trading days in one Dagster run and summarise it.

The run is recorded in a persistent Dagster instance (``DAGSTER_HOME``, by default
``.finrnn/dagster_home``), so ``dagster dev`` started with the same ``DAGSTER_HOME`` shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

DEFAULT_DAGSTER_HOME = Path(".finrnn") / "dagster_home"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="finrnn-demo",
        description="Materialize prices -> features -> LSTM/GRU/RNN checkpoints -> predictions "
        "over a range of trading days in one Dagster run, then print a summary.",
    )
    parser.add_argument(
        "--start", default="2016-01-04", help="first trading day (default: %(default)s)"
    )
    parser.add_argument(
        "--end", default="2018-12-31", help="last trading day (default: %(default)s)"
    )
    parser.add_argument(
        "--prices",
        default=os.environ.get("FINRNN_PRICE_PATH", ""),
        help="price file or folder (default: the bundled real sample)",
    )
    parser.add_argument(
        "--storage-root",
        default=os.environ.get("FINRNN_STORAGE_ROOT", "finrnn_data"),
        help="where tables and checkpoints are written (default: %(default)s)",
    )
    parser.add_argument(
        "--cutoff", default="", help="training cut-off YYYY-MM-DD (default: 80%% of the range)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per model")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME.resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        # A local, offline instance: SQLite storage in DAGSTER_HOME (Dagster's default), no telemetry.
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["FINRNN_STORAGE_ROOT"] = str(Path(args.storage_root).resolve())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

    import dagster as dg

    from finrnn_pipeline.definitions import build_resources, defs

    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("end_to_end_job")
    training: dict = {"cutoff": args.cutoff}
    if args.epochs is not None:
        training["epochs"] = args.epochs
    run_config = {
        "ops": {f"{c}_checkpoint": {"config": training} for c in ("lstm", "gru", "rnn")},
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
    print(f"finrnn demo: {args.start}..{args.end}, storage {os.environ['FINRNN_STORAGE_ROOT']}")
    print(f"Dagster instance: {home}")
    began = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        run_config=run_config,
        resources=build_resources(os.environ["FINRNN_STORAGE_ROOT"], args.prices or None),
        tags={
            "dagster/asset_partition_range_start": args.start,
            "dagster/asset_partition_range_end": args.end,
        },
        raise_on_error=False,
    )
    seconds = time.monotonic() - began
    if not result.success:
        print(
            f"Run {result.run_id} FAILED after {seconds:.0f}s; see the logs above or the UI.",
            file=sys.stderr,
        )
        return 1
    print_summary(result, Path(os.environ["FINRNN_STORAGE_ROOT"]), seconds)
    return 0


def _last_metadata(result, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == asset]
    if not events:
        return {}
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def print_summary(result, root: Path, seconds: float) -> None:
    from finrnn_core.metrics import pearson
    from finrnn_core.storage import read_table

    prices = _last_metadata(result, "raw_prices")
    lines = [
        "",
        f"=== finrnn run {result.run_id} succeeded in {seconds:.0f}s ===",
        f"Rows ingested: {prices.get('rows_read')} read, {prices.get('rows_accepted')} accepted, "
        f"{prices.get('rows_quarantined')} quarantined ({prices.get('tickers')} tickers, "
        f"{prices.get('first_date')}..{prices.get('last_date')})",
    ]
    predictions_dir = root / "predictions"
    table = read_table(predictions_dir)
    lines.append(
        "Model   cutoff      windows (in/out)   corr in-sample  corr out-of-sample  corr after cutoff"
    )
    for cell in ("lstm", "gru", "rnn"):
        meta = _last_metadata(result, f"{cell}_checkpoint")
        rows = table[(table["model"] == cell)].dropna(subset=["realized"])
        live = (
            pearson(rows["realized"].to_numpy(), rows["predicted"].to_numpy())
            if len(rows)
            else float("nan")
        )
        lines.append(
            f"{cell.upper():<7} {meta.get('cutoff')}  {meta.get('training_windows'):>6} "
            f"({meta.get('in_sample_windows')}/{meta.get('out_of_sample_windows')})"
            f"  {meta.get('corr_in_sample'):>14.3f}  {meta.get('corr_out_of_sample'):>18.3f}"
            f"  {live:>17.3f}"
        )
    dates = table["date"]
    lines += [
        f"Predictions: {len(table)} rows, {table['ticker'].nunique()} tickers x "
        f"{table['model'].nunique()} models, "
        + (f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}" if len(table) else "no dates"),
        f"Prediction table: {predictions_dir}",
        'Read it: python -c "import pyarrow.dataset as ds; '
        f"print(ds.dataset('{predictions_dir}', partitioning='hive').to_table().to_pandas())\"",
        "Open the UI on these runs: make ui   (http://127.0.0.1:3000)",
    ]
    print("\n".join(lines))
    summary = {"run_id": result.run_id, "seconds": round(seconds, 1), "prediction_rows": len(table)}
    (root / "last_demo.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
