"""Run the whole pipeline over a range of trading days and summarise it.

Three Dagster runs, as a user launches them: features for the range of trading days, the models
at a range of retraining cut-offs (weekly partitions), then predictions and scores for the days.

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finrnn-demo",
        description="Materialize prices -> features -> LSTM/GRU/RNN checkpoints -> predictions "
        "over a range of trading days (one run for the daily inputs, one for the cut-offs, one "
        "for predictions and scores), then print a summary.",
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
        help="price file, folder or quoted glob such as 'data/**/*.csv' (default: the bundled real sample)",
    )
    parser.add_argument(
        "--storage-root",
        default=os.environ.get("FINRNN_STORAGE_ROOT", "finrnn_data"),
        help="where tables and checkpoints are written (default: %(default)s)",
    )
    parser.add_argument(
        "--cutoff",
        default="",
        help="first training cut-off YYYY-MM-DD, moved back to a cut-off partition (Fridays "
        "by default; default: 80%% of the way through the range)",
    )
    parser.add_argument(
        "--last-cutoff",
        default="",
        help="train every cut-off from --cutoff to this one, each warm-started from the one "
        "before (walk-forward; default: --cutoff only)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per model")
    return parser


def _trading_day(day, forward: bool):
    import pandas as pd

    # Partitions are weekdays: a weekend start moves to Monday, a weekend end to Friday.
    offset = pd.offsets.BDay(1 if forward else -1)
    return day if day.day_of_week < 5 else day + offset


def _date(parser: argparse.ArgumentParser, name: str, value: str):
    """`value` as a day (a time of day dropped), or a usage error naming the option."""
    import pandas as pd

    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError):
        day = pd.NaT
    if day is pd.NaT:  # pd.Timestamp("") is NaT rather than an error
        parser.error(f"--{name} must be a date YYYY-MM-DD. Received: {value!r}")
    return day.tz_localize(None).normalize() if day.tzinfo else day.normalize()


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Validate the arguments before anything runs, so mistakes cost nothing."""
    import pandas as pd

    from finrnn_pipeline.partitions import PARTITIONS_START

    first, last = _date(parser, "start", args.start), _date(parser, "end", args.end)
    if first > last:
        parser.error(f"--start {first:%Y-%m-%d} is after --end {last:%Y-%m-%d}.")
    args.start, args.end = _trading_day(first, forward=True), _trading_day(last, forward=False)
    if args.start > args.end:  # only weekend days: the messages name the days as typed
        parser.error(
            f"--start {first:%Y-%m-%d} .. --end {last:%Y-%m-%d} holds no trading day: the "
            "trading-day partitions are weekdays (Monday to Friday)."
        )
    if args.start < pd.Timestamp(PARTITIONS_START):
        parser.error(
            f"--start {first:%Y-%m-%d} is before the first trading-day partition "
            f"{PARTITIONS_START}; set FINRNN_PARTITIONS_START=YYYY-MM-DD for a longer history."
        )
    from finrnn_pipeline.partitions import trading_days

    last_partition = trading_days.get_last_partition_key()
    if last_partition is not None and args.end > pd.Timestamp(last_partition):
        parser.error(
            f"--end {last:%Y-%m-%d} is after the last trading-day partition {last_partition} "
            "(partitions run up to today): there are no prices for later days yet."
        )
    days = pd.bdate_range(args.start, args.end)
    range_text = f"{first:%Y-%m-%d}..{last:%Y-%m-%d}"  # as typed
    chosen = bool(args.cutoff)
    args.cutoff = _cutoff(
        parser,
        "cutoff",
        args.cutoff or f"{days[int(0.8 * (len(days) - 1))]:%Y-%m-%d}",
        range_text if not chosen else "",
    )
    args.last_cutoff = _cutoff(parser, "last-cutoff", args.last_cutoff or args.cutoff)
    for name, cutoff in (("cutoff", args.cutoff), ("last-cutoff", args.last_cutoff)):
        if not args.start < pd.Timestamp(cutoff) < args.end:
            if name == "cutoff" and not chosen:
                parser.error(
                    f"{range_text} holds no retraining cut-off (Fridays by default) with days "
                    f"before it to train on and after it to predict; the nearest is {cutoff}. "
                    "Give a longer range, or --cutoff inside it."
                )
            parser.error(
                f"--{name} {cutoff} must lie inside {range_text}: "
                "training uses the days before it and predictions the days after it."
            )
    if args.last_cutoff < args.cutoff:
        parser.error(f"--last-cutoff {args.last_cutoff} is before --cutoff {args.cutoff}.")
    root = Path(args.storage_root).expanduser()
    if root.exists() and not root.is_dir():
        parser.error(f"--storage-root {str(root)!r} is a file, not a folder.")
    if args.epochs is not None and args.epochs <= 0:
        parser.error(f"--epochs must be > 0. Received: {args.epochs}")
    if args.prices:
        from finrnn_core.errors import DataError
        from finrnn_core.prices import list_price_files

        try:
            list_price_files(args.prices)
        except DataError as exc:
            parser.error(f"--prices: {exc}")
    return args


def _cutoff(parser: argparse.ArgumentParser, name: str, value: str, range_text: str = "") -> str:
    """The newest retraining cut-off partition on or before `value`.

    `range_text` is set when the value was not given but derived from the range.
    """
    from finrnn_pipeline.partitions import retrain_cutoffs

    day = f"{_date(parser, name, value):%Y-%m-%d}"
    keys = retrain_cutoffs.get_partition_keys()
    earlier = [k for k in keys if k <= day]
    if not earlier:
        first = keys[0] if keys else "none"
        if range_text:
            parser.error(
                f"{range_text} ends before a retraining cut-off has days before it to train "
                f"on (the first cut-off is {first}). Give a longer range, or --cutoff."
            )
        parser.error(f"--{name} {day} is before the first retraining cut-off, {first}.")
    return earlier[-1]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = check_args(parser, parser.parse_args(argv))
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DAGSTER_HOME.resolve())))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        # A local, offline instance: SQLite storage in DAGSTER_HOME (Dagster's default), no telemetry.
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    root = Path(args.storage_root).resolve()
    os.environ["FINRNN_STORAGE_ROOT"] = str(root)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

    import dagster as dg
    import pandas as pd

    from finrnn_core.storage import missing_partitions, partition_dates
    from finrnn_core.training import CELL_TYPES
    from finrnn_pipeline.assets.features import LOOKBACK_PARTITIONS
    from finrnn_pipeline.definitions import build_resources, defs
    from finrnn_pipeline.partitions import trading_days

    instance = dg.DagsterInstance.get()
    resources = build_resources(str(root), args.prices or None)
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    start, end = f"{args.start:%Y-%m-%d}", f"{args.end:%Y-%m-%d}"
    print(f"finrnn demo: {start}..{end}, storage {root}")
    print(f"Dagster instance: {home}")

    # Features on the first day need ~7 weeks of earlier prices: ingest them first if absent.
    keys = trading_days.get_partition_keys()
    first = keys.index(start)
    lookback = keys[max(0, first - LOOKBACK_PARTITIONS) : first]
    if lookback and missing_partitions(root / "raw_prices", lookback):
        print(f"Ingesting the feature lookback {lookback[0]}..{lookback[-1]} first.")
        ingest = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            run_config=quiet,
            resources=resources,
            tags=_range_tags(lookback[0], lookback[-1]),
            raise_on_error=False,
        )
        if not ingest.success:
            print(f"Run {ingest.run_id} FAILED{_why(ingest)}", file=sys.stderr)
            return 1
        results_before = [ingest]
    else:
        results_before = []
    elsewhere = [d for d in partition_dates(root / "price_features") if not start <= d <= end]
    if elsewhere:
        print(
            f"Note: {root} already holds price_features for {len(elsewhere)} other day(s) "
            f"({elsewhere[0]}..{elsewhere[-1]}); training uses every stored feature row up to "
            "the cut-off. Use --storage-root DIR to keep experiments apart."
        )

    training: dict = {}
    if args.epochs is not None:
        training["epochs"] = args.epochs
    steps = [
        ("features_job", start, end, quiet),
        (
            "retraining_job",
            args.cutoff,
            args.last_cutoff,
            {"ops": {f"{c}_checkpoint": {"config": training} for c in CELL_TYPES}, **quiet},
        ),
        ("predictions_job", start, end, quiet),
    ]
    began = time.monotonic()
    results = []
    for job, first, last, run_config in steps:
        print(f"Run {job} over {first}..{last}")
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance,
            run_config=run_config,
            resources=resources,
            tags=_range_tags(first, last),
            raise_on_error=False,
        )
        if not result.success:
            print(
                f"Run {result.run_id} ({job}) FAILED after {time.monotonic() - began:.0f}s"
                f"{_why(result)}",
                file=sys.stderr,
            )
            return 1
        results.append(result)
    seconds = time.monotonic() - began
    print_summary(results, root, seconds, pd.Timestamp(start), pd.Timestamp(end), results_before)
    return 0


def _why(result) -> str:
    """The failed steps and their errors, for the last line a user reads."""
    failures = [
        f"\n  {e.step_key}: {_error_text(e.step_failure_data.error)}"
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_failure_data.error is not None
    ]
    return (
        ":" + "".join(failures) + "\n(full logs above or in the UI: make ui)"
        if failures
        else ("; see the logs above or the UI.")
    )


def _error_text(error) -> str:
    """The user's error inside Dagster's wrapper, e.g. ``DataError: Price source ...``."""
    # Dagster's wrappers: ...StepExecutionError, ...HandleOutputError, ...LoadInputError, ...
    while error.cause is not None and error.cls_name.startswith("DagsterExecution"):
        error = error.cause
    text = error.message.strip()
    # "finrnn_core.errors.DataError: ..." -> "DataError: ..."
    module, _, rest = text.partition(": ")
    if rest and module.rsplit(".", 1)[-1] == error.cls_name:
        text = f"{error.cls_name}: {rest}" if error.cls_name != "Failure" else rest
    return text


def _range_tags(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def _last_metadata(results, asset: str) -> dict:
    events = [
        e
        for result in results
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == asset
    ]
    if not events:
        return {}
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def _older_checkpoints_note(results, table, root: Path) -> list[str]:
    """A note when some predictions come from checkpoints this demo did not train.

    Each day is predicted by the newest stored cut-off before it, so a store reused across
    demos (another range, other prices) lends its later checkpoints to this one's days.
    """
    trained = {
        str(entry.get("model_version"))
        for cell in ("lstm", "gru", "rnn")
        for entry in _last_metadata(results, f"{cell}_checkpoint").get("cutoffs_trained") or []
    }
    other = table[~table["model_version"].astype(str).isin(trained)]
    if not len(other):
        return []
    versions = sorted(other["model_version"].astype(str).unique())
    return [
        f"Note: {len(other)} prediction row(s) ({other['date'].min():%Y-%m-%d}.."
        f"{other['date'].max():%Y-%m-%d}) come from checkpoints this demo did not train, "
        f"already in {root}: {', '.join(versions[:6])}{' ...' if len(versions) > 6 else ''}. "
        "Each day uses the newest cut-off before it; the scores above include those rows. "
        "Use --storage-root DIR to keep experiments apart."
    ]


def print_summary(results, root: Path, seconds: float, start, end, lookback=()) -> None:
    from finrnn_core.metrics import pearson
    from finrnn_core.storage import read_table

    prices = _last_metadata(results, "raw_prices")
    lines = [
        "",
        f"=== finrnn: {len(results)} runs succeeded in {seconds:.0f}s "
        f"({', '.join(r.run_id[:8] for r in results)})"
        + (
            f", after the lookback ingest run {', '.join(r.run_id[:8] for r in lookback)}"
            if lookback
            else ""
        )
        + " ===",
        f"Rows ingested: {prices.get('rows_read')} read, {prices.get('rows_accepted')} accepted, "
        f"{prices.get('rows_quarantined')} quarantined ({prices.get('tickers')} tickers, "
        f"{prices.get('first_date')}..{prices.get('last_date')})",
    ]
    before = _last_metadata(lookback, "raw_prices")
    if before:
        lines.append(
            f"  and the feature lookback before it: {before.get('rows_read')} read, "
            f"{before.get('rows_accepted')} accepted, {before.get('rows_quarantined')} "
            f"quarantined ({before.get('first_date')}..{before.get('last_date')})"
        )
    if prices.get("rows_quarantined") or before.get("rows_quarantined"):
        lines.append(
            "  quarantined rows, with file, line, column, raw value and reason: "
            f"{root / 'price_quarantine'}"
        )
    predictions_dir = root / "predictions"
    table = read_table(predictions_dir, start=start, end=end)
    lines.append(
        "Model   cutoff      windows (in/out)   corr in-sample  corr out-of-sample  corr after cutoff"
    )
    for cell in ("lstm", "gru", "rnn"):
        meta = _last_metadata(results, f"{cell}_checkpoint")
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
    lines += _older_checkpoints_note(results, table, root)
    dates = table["date"]
    lines += [
        f"Predictions: {len(table)} rows, {table['ticker'].nunique()} tickers x "
        f"{table['model'].nunique()} models, "
        + (f"{dates.min():%Y-%m-%d}..{dates.max():%Y-%m-%d}" if len(table) else "no dates"),
        f"Prediction table: {predictions_dir}",
        f'Read it: {sys.executable} -c "import pyarrow.dataset as ds; '
        f"print(ds.dataset('{predictions_dir}', partitioning='hive').to_table().to_pandas())\"",
        "Open the UI on these runs: make ui   (http://127.0.0.1:3000)",
    ]
    print("\n".join(lines))
    summary = {
        "run_ids": [r.run_id for r in results],
        "seconds": round(seconds, 1),
        "prediction_rows": len(table),
    }
    (root / "last_demo.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
